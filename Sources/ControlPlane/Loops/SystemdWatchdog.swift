import Observability
import ServiceLifecycle

/// systemd's watchdog (`WatchdogSec=`): `WATCHDOG=1` at half the interval systemd asks for, only
/// while the committer works (it answers, and no write has waited for the disk past the interval):
/// a stuck committer stops the pings and systemd restarts ecsd. On shutdown, `STOPPING=1`.
struct SystemdWatchdog: Service {
    let notifier: SystemdNotifier
    let committer: Committer<ControlPlaneState>

    func run() async throws {
        guard let interval = notifier.watchdogInterval else {
            try? await gracefulShutdown()
            notifier.notify("STOPPING=1")
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if await committer.isWorking(stall: interval) { notifier.notify("WATCHDOG=1") }
                try? await Task.sleep(for: interval / 2)
            }
        }
        notifier.notify("STOPPING=1")
    }
}

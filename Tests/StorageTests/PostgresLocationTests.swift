@testable import Storage
import Testing

/// `--store` URLs, as libpq's connection URIs spell them.
struct PostgresLocationTests {
    @Test func urlsNameTheServerTheUserAndTheDatabase() throws {
        let tcp = try #require(PostgresStateStore.Location(url: "postgres://ecsd:s3cret@db.internal:6432/stevedore"))
        #expect(tcp == PostgresStateStore.Location(url: "postgresql://ecsd:s3cret@db.internal:6432/stevedore"))
        #expect(tcp.host == "db.internal" && tcp.port == 6432 && tcp.user == "ecsd" && tcp.password == "s3cret" && tcp.database == "stevedore")
        let defaults = try #require(PostgresStateStore.Location(url: "postgres://ecsd@127.0.0.1"))
        #expect(defaults.port == 5432 && defaults.database == "ecsd" && defaults.password == nil && defaults.socketDirectory == nil)
        let socket = try #require(PostgresStateStore.Location(url: "postgres://ecsd@/stevedore?host=/var/run/postgresql"))
        #expect(socket.socketDirectory == "/var/run/postgresql" && socket.database == "stevedore")
        #expect(tcp.sslMode == "prefer" && socket.sslMode == "prefer")
        let verified = try #require(PostgresStateStore.Location(url: "postgres://ecsd@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem"))
        #expect(verified.sslMode == "verify-full" && verified.sslRootCertificate == "/etc/ca.pem")
        #expect(PostgresStateStore.Location.redacted("postgres://ecsd:s3cret@db/x") == "postgres://ecsd:****@db/x")
        for bad in ["sqlite", "mysql://ecsd@host/db", "postgres://host/db", "postgres://ecsd@/db", "not a url", "postgres://ecsd@db/x?sslmode=maybe"] {
            #expect(PostgresStateStore.Location(url: bad) == nil, "\(bad)")
        }
    }
}

/// The leader lease's timing and the host part of its holders' names.
struct LeaderLeaseTimingTests {
    @Test func theHostOfAHolderIsItsFirstPart() {
        #expect(LeaderLease.host(of: "db-1.internal/4242/1a2b3c4d") == "db-1.internal")
        #expect(LeaderLease.host(of: "ecsd store import (12)") == "ecsd store import (12)")
        #expect(LeaderLease.host(of: "") == "")
    }
}

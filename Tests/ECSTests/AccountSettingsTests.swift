@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import Testing

/// Account settings: per principal, the account's default (the root's) below them, AWS's below
/// that; the values each setting takes; who may act for another principal; their effect on new
/// clusters.
struct AccountSettingsTests {
    var state = ECSState(names: ResourceNames())
    let root = "arn:aws:iam::000000000000:root"
    let alice = "arn:aws:iam::000000000000:user/alice"

    @Test mutating func aPrincipalsOwnSettingWinsOverTheAccountDefaultWhichWinsOverAWSs() throws {
        var changes = ChangeSet()
        let effective = { (state: ECSState, caller: String) throws(AWSError) -> [String: String] in
            let settings = try state.listAccountSettings(ListAccountSettingsRequest(name: .containerInsights, effectiveSettings: true), caller: caller).settings ?? []
            return Dictionary(uniqueKeysWithValues: settings.map { ($0.principalArn ?? "", "\($0.value ?? "")/\($0.type?.rawValue ?? "")") })
        }
        // AWS's default is reported as the root's.
        #expect(try effective(state, alice) == [root: "disabled/user"])
        let defaulted = try state.putAccountSettingDefault(PutAccountSettingDefaultRequest(name: .containerInsights, value: "enabled"), changes: &changes)
        #expect(defaulted.setting == Setting(name: .containerInsights, value: "enabled", principalArn: root, type: .user))
        #expect(try effective(state, alice) == [root: "enabled/user"])
        let own = try state.putAccountSetting(PutAccountSettingRequest(name: .containerInsights, value: "enhanced"), caller: alice, changes: &changes)
        #expect(own.setting == Setting(name: .containerInsights, value: "enhanced", principalArn: alice, type: .user))
        #expect(try effective(state, alice) == [alice: "enhanced/user"])
        #expect(try effective(state, root) == [root: "enabled/user"])
        // Without effectiveSettings, only what the principal put itself.
        #expect(try state.listAccountSettings(ListAccountSettingsRequest(), caller: alice).settings?.map(\.name) == [.containerInsights])
        let deleted = try state.deleteAccountSetting(DeleteAccountSettingRequest(name: .containerInsights), caller: alice, changes: &changes)
        #expect(deleted.setting?.value == "enhanced")
        #expect(try effective(state, alice) == [root: "enabled/user"])
        #expect(changes.changes.map(\.kind) == [.accountSettings, .accountSettings, .accountSettings])
        #expect(changes.changes.last?.body == nil)
    }

    @Test mutating func aRolesSessionsShareTheRolesSettings() throws {
        var changes = ChangeSet()
        let session = "arn:aws:sts::000000000000:assumed-role/deployer/task-1"
        let role = "arn:aws:iam::000000000000:role/deployer"
        #expect(ECSState.settingsOwner(session) == role && ECSState.settingsOwner(alice) == alice && ECSState.settingsOwner(nil) == nil)
        let put = try state.putAccountSetting(PutAccountSettingRequest(name: .containerInsights, value: "enabled"), caller: session, changes: &changes)
        #expect(put.setting?.principalArn == role)
        // Another session of the same role reads it, and so does the root naming the role.
        let other = try state.listAccountSettings(ListAccountSettingsRequest(name: .containerInsights), caller: "arn:aws:sts::000000000000:assumed-role/deployer/task-2")
        #expect(other.settings?.map(\.value) == ["enabled"])
        let byRoot = try state.listAccountSettings(ListAccountSettingsRequest(name: .containerInsights, principalArn: role), caller: root)
        #expect(byRoot.settings?.map(\.principalArn) == [role])
        // A role with a path: the root names it by its full ARN, its sessions (whose ARNs carry no path) see the setting.
        _ = try state.putAccountSetting(
            PutAccountSettingRequest(name: .containerInsights, value: "enhanced", principalArn: "arn:aws:iam::000000000000:role/service/runner"), caller: root,
            changes: &changes)
        let runner = try state.listAccountSettings(ListAccountSettingsRequest(name: .containerInsights), caller: "arn:aws:sts::000000000000:assumed-role/runner/s")
        #expect(runner.settings?.map(\.value) == ["enhanced"])
    }

    @Test mutating func newClustersTakeTheCallersContainerInsightsSetting() throws {
        var changes = ChangeSet()
        _ = try state.putAccountSetting(PutAccountSettingRequest(name: .containerInsights, value: "enabled"), caller: alice, changes: &changes)
        let hers = try state.createCluster(CreateClusterRequest(clusterName: "hers"), caller: alice, changes: &changes)
        #expect(hers.cluster?.settings == [ClusterSetting(name: .containerInsights, value: "enabled")])
        let others = try state.createCluster(CreateClusterRequest(clusterName: "others"), caller: nil, changes: &changes)
        #expect(others.cluster?.settings == [ClusterSetting(name: .containerInsights, value: "disabled")])
        // A setting given with the cluster wins.
        let given = try state.createCluster(
            CreateClusterRequest(clusterName: "given", settings: [ClusterSetting(name: .containerInsights, value: "disabled")]), caller: alice, changes: &changes)
        #expect(given.cluster?.settings == [ClusterSetting(name: .containerInsights, value: "disabled")])
    }

    @Test mutating func badValuesAndOtherPrincipalsAreRefused() throws {
        var changes = ChangeSet()
        #expect(throws: AWSError.invalidParameter("Invalid setting 'value'")) {
            try state.putAccountSetting(PutAccountSettingRequest(name: .containerInsights, value: "maybe"), caller: nil, changes: &changes)
        }
        #expect(throws: AWSError.self) {
            try state.putAccountSettingDefault(PutAccountSettingDefaultRequest(name: .fargateTaskRetirementWaitPeriod, value: "3"), changes: &changes)
        }
        #expect(throws: AWSError.invalidParameter("You can no longer disable Long Arn settings")) {
            try state.putAccountSettingDefault(PutAccountSettingDefaultRequest(name: .taskLongArnFormat, value: "disabled"), changes: &changes)
        }
        #expect(throws: AWSError.self) {
            try state.putAccountSetting(PutAccountSettingRequest(name: .guardDutyActivate, value: "on"), caller: nil, changes: &changes)
        }
        // Account-wide settings are the root's only.
        #expect(throws: AWSError.self) {
            try state.putAccountSetting(PutAccountSettingRequest(name: .fargateTaskRetirementWaitPeriod, value: "14"), caller: alice, changes: &changes)
        }
        // Only the root acts for another principal.
        let bob = "arn:aws:iam::000000000000:user/bob"
        #expect(throws: AWSError.self) {
            try state.putAccountSetting(PutAccountSettingRequest(name: .awsvpcTrunking, value: "enabled", principalArn: bob), caller: alice, changes: &changes)
        }
        let forBob = try state.putAccountSetting(
            PutAccountSettingRequest(name: .awsvpcTrunking, value: "enabled", principalArn: bob), caller: root, changes: &changes)
        #expect(forBob.setting?.principalArn == bob)
        #expect(throws: AWSError.self) {
            try state.putAccountSetting(PutAccountSettingRequest(name: .awsvpcTrunking, value: "enabled", principalArn: "alice"), caller: root, changes: &changes)
        }
        #expect(changes.changes.count == 1)
    }

    @Test mutating func listingPagesAndFiltersByValue() throws {
        let all = try state.listAccountSettings(ListAccountSettingsRequest(effectiveSettings: true, maxResults: 5), caller: nil)
        #expect(all.settings?.count == 5)
        #expect(all.nextToken != nil)
        let rest = try state.listAccountSettings(ListAccountSettingsRequest(effectiveSettings: true, nextToken: all.nextToken), caller: nil)
        #expect((all.settings ?? []).count + (rest.settings ?? []).count == SettingName.allCases.count)
        #expect(rest.nextToken == nil)
        let enabled = try state.listAccountSettings(
            ListAccountSettingsRequest(name: .taskLongArnFormat, value: "enabled", effectiveSettings: true), caller: nil)
        #expect(enabled.settings?.map(\.name) == [.taskLongArnFormat])
        #expect(throws: AWSError.self) { try state.listAccountSettings(ListAccountSettingsRequest(maxResults: 11), caller: nil) }
    }

    @Test mutating func settingsSurviveARestart() throws {
        var changes = ChangeSet()
        _ = try state.putAccountSetting(PutAccountSettingRequest(name: .awsvpcTrunking, value: "enabled"), caller: alice, changes: &changes)
        var rows: StoredRows = [:]
        for change in changes.changes { rows[change.kind, default: []].append(change.body ?? []) }
        let restored = try ECSState.restore(names: ResourceNames(), rows: rows)
        #expect(restored.accountSettings == state.accountSettings)
    }
}

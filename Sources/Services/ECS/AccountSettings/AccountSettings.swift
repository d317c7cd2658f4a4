#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECSShapes
import StevedoreCore

/// One account setting put for one principal: an IAM user or role, or the account's root, whose
/// settings are the defaults of every principal that has none of its own (PutAccountSettingDefault).
public struct AccountSettingRecord: StoredRecord, Equatable {
    public var principalArn: String
    public var name: SettingName
    public var value: String

    public static var recordKind: RecordKind { .accountSettings }
    public var recordKey: String { principalArn + " " + name.rawValue }
}

extension RecordKind {
    public static let accountSettings = RecordKind("account_settings")
}

/// ECS's account settings: values per principal, with the account's defaults (the root's) and
/// AWS's own below them.
public struct AccountSettings: Sendable, Equatable {
    /// Values by principal ARN, then setting.
    public private(set) var values: [String: [SettingName: String]] = [:]

    public init() {}

    /// What each setting is when neither the principal nor the account set it (AWS's defaults),
    /// and the values it takes. The long ARN formats can no longer be turned off, nor can tagging
    /// authorization (AWS, 2024); Fargate's event windows are enabled once, for good.
    static let rules: [SettingName: (awsDefault: String, values: [String])] = [
        .serviceLongArnFormat: ("enabled", ["enabled"]),
        .taskLongArnFormat: ("enabled", ["enabled"]),
        .containerInstanceLongArnFormat: ("enabled", ["enabled"]),
        .awsvpcTrunking: ("disabled", ["enabled", "disabled"]),
        .containerInsights: ("disabled", ["enabled", "disabled", "enhanced"]),
        .fargateFIPSMode: ("disabled", ["enabled", "disabled"]),
        .tagResourceAuthorization: ("on", ["on"]),
        .fargateTaskRetirementWaitPeriod: ("7", ["0", "7", "14"]),
        .guardDutyActivate: ("off", []),
        .defaultLogDriverMode: ("non-blocking", ["blocking", "non-blocking"]),
        .fargateEventWindows: ("disabled", ["enabled"]),
    ]

    /// Settings only the account's default holds (PutAccountSettingDefault, or PutAccountSetting
    /// by the root for itself).
    static let accountWide: Set<SettingName> = [.fargateFIPSMode, .fargateTaskRetirementWaitPeriod, .fargateEventWindows]

    mutating func restore(_ record: AccountSettingRecord) {
        values[record.principalArn, default: [:]][record.name] = record.value
    }

    /// The setting that applies to `principal`: its own, else the account's default (`root`'s),
    /// else AWS's.
    public func effective(_ name: SettingName, principal: String, root: String) -> Setting {
        if let value = values[principal]?[name] {
            return Setting(name: name, value: value, principalArn: principal, type: .user)
        }
        if let value = values[root]?[name] {
            return Setting(name: name, value: value, principalArn: root, type: .user)
        }
        // AWS's own default, reported as the root's (as `list-account-settings --effective-settings`
        // shows it); only GuardDuty's setting is AWS-managed.
        return Setting(name: name, value: Self.rules[name]?.awsDefault ?? "", principalArn: root, type: name == .guardDutyActivate ? .awsManaged : .user)
    }

    fileprivate mutating func put(_ record: AccountSettingRecord, changes: inout ChangeSet) {
        values[record.principalArn, default: [:]][record.name] = record.value
        changes.put(record)
    }

    fileprivate mutating func remove(_ name: SettingName, principal: String, changes: inout ChangeSet) -> String? {
        guard let removed = values[principal]?.removeValue(forKey: name) else { return nil }
        if values[principal]?.isEmpty == true { values[principal] = nil }
        changes.delete(AccountSettingRecord.self, key: principal + " " + name.rawValue)
        return removed
    }
}

extension ECSState {
    /// The account's root user: its settings are every principal's defaults.
    var rootPrincipal: String { "arn:\(names.partition):iam::\(names.accountId):root" }

    /// PutAccountSetting: for `principalArn` when given (only the root may name another), else
    /// for the caller (the root when requests are not signed).
    public mutating func putAccountSetting(
        _ request: PutAccountSettingRequest, caller: String?, changes: inout ChangeSet
    ) throws(AWSError) -> PutAccountSettingResponse {
        let principal = try settingPrincipal(request.principalArn, caller: caller)
        try validateSetting(request.name, value: request.value)
        if AccountSettings.accountWide.contains(request.name), principal != rootPrincipal {
            throw .invalidParameter("\(request.name.rawValue) is an account-wide setting: set it with PutAccountSettingDefault, as the root user.")
        }
        accountSettings.put(AccountSettingRecord(principalArn: principal, name: request.name, value: request.value), changes: &changes)
        return PutAccountSettingResponse(setting: Setting(name: request.name, value: request.value, principalArn: principal, type: .user))
    }

    /// PutAccountSettingDefault: the account's default, the root's setting.
    public mutating func putAccountSettingDefault(
        _ request: PutAccountSettingDefaultRequest, changes: inout ChangeSet
    ) throws(AWSError) -> PutAccountSettingDefaultResponse {
        try validateSetting(request.name, value: request.value)
        accountSettings.put(AccountSettingRecord(principalArn: rootPrincipal, name: request.name, value: request.value), changes: &changes)
        return PutAccountSettingDefaultResponse(setting: Setting(name: request.name, value: request.value, principalArn: rootPrincipal, type: .user))
    }

    /// DeleteAccountSetting: the principal's own value goes; the answer is the setting as it was.
    public mutating func deleteAccountSetting(
        _ request: DeleteAccountSettingRequest, caller: String?, changes: inout ChangeSet
    ) throws(AWSError) -> DeleteAccountSettingResponse {
        let principal = try settingPrincipal(request.principalArn, caller: caller)
        let effective = accountSettings.effective(request.name, principal: principal, root: rootPrincipal)
        let removed = accountSettings.remove(request.name, principal: principal, changes: &changes)
        return DeleteAccountSettingResponse(
            setting: Setting(name: request.name, value: removed ?? effective.value, principalArn: principal, type: .user))
    }

    /// ListAccountSettings: the principal's own settings, or with `effectiveSettings` every
    /// setting as it applies to it; filtered by name and value, a page at a time (1-10, 10 by default).
    public func listAccountSettings(_ request: ListAccountSettingsRequest, caller: String?) throws(AWSError) -> ListAccountSettingsResponse {
        let principal = try settingPrincipal(request.principalArn, caller: caller)
        if let value = request.value, request.name == nil {
            throw .invalidParameter("The value parameter must be used with the name parameter (value: \(value)).")
        }
        let limit = request.maxResults ?? 10
        guard (1...10).contains(limit) else {
            throw .invalidParameter("maxResults must be between 1 and 10.")
        }
        let names = request.name.map { [$0] } ?? SettingName.allCases
        var settings: [Setting] = []
        for name in names {
            if request.effectiveSettings == true {
                settings.append(accountSettings.effective(name, principal: principal, root: rootPrincipal))
            } else if let value = accountSettings.values[principal]?[name] {
                settings.append(Setting(name: name, value: value, principalArn: principal, type: .user))
            }
        }
        if let value = request.value { settings = settings.filter { $0.value == value } }
        let start: Int
        if let token = request.nextToken {
            guard let offset = Int(token), (0...settings.count).contains(offset) else {
                throw .invalidParameter("The specified nextToken is not valid.")
            }
            start = offset
        } else {
            start = 0
        }
        let end = min(settings.count, start + limit)
        return ListAccountSettingsResponse(settings: Array(settings[start..<end]), nextToken: end < settings.count ? String(end) : nil)
    }

    /// The principal a request acts for: `principalArn` (an IAM user's, role's or the root's ARN
    /// of this account; another principal's only when the caller is the root), else the caller.
    private func settingPrincipal(_ given: String?, caller: String?) throws(AWSError) -> String {
        let callerArn = Self.settingsOwner(caller) ?? rootPrincipal
        guard let given, given != callerArn else { return callerArn }
        let prefix = "arn:\(names.partition):iam::\(names.accountId):"
        guard given.hasPrefix(prefix), given == rootPrincipal || given.dropFirst(prefix.count).hasPrefix("user/") || given.dropFirst(prefix.count).hasPrefix("role/")
        else {
            throw .invalidParameter("The specified principalArn \(given) is not valid: use an IAM user, role or the root user of this account.")
        }
        let owner = Self.pathless(given)
        guard owner != callerArn else { return callerArn }
        guard callerArn == rootPrincipal else {
            throw AWSError(
                type: "AccessDeniedException",
                message: "Only the root user can modify or view the account settings of another principal (\(given)).", httpStatus: 400)
        }
        return owner
    }

    /// A role's ARN without its path (`role/service/app` → `role/app`): its sessions' ARNs carry
    /// no path, and both must name the same settings.
    static func pathless(_ arn: String) -> String {
        // arn:<partition>:iam::<account>:role/<path…>/<name>
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[2] == "iam", parts[5].hasPrefix("role/") else { return arn }
        let names = parts[5].split(separator: "/")
        guard names.count > 2, let last = names.last else { return arn }
        return parts[..<5].joined(separator: ":") + ":role/" + last
    }

    /// Whose settings a caller reads and writes: a role's session (`arn:aws:sts::<account>:assumed-role/<role>/<session>`,
    /// a task's or a function's) has its role's (`arn:aws:iam::<account>:role/<role>`); anyone else, their own.
    public static func settingsOwner(_ caller: String?) -> String? {
        guard let caller else { return nil }
        let parts = caller.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "sts", parts[5].hasPrefix("assumed-role/") else { return pathless(caller) }
        let path = parts[5].dropFirst("assumed-role/".count).split(separator: "/")
        guard path.count == 2 else { return caller }
        return "arn:\(parts[1]):iam::\(parts[4]):role/\(path[0])"
    }

    private func validateSetting(_ name: SettingName, value: String) throws(AWSError) {
        switch name {
        case .serviceLongArnFormat, .taskLongArnFormat, .containerInstanceLongArnFormat:
            if value == "disabled" { throw .invalidParameter("You can no longer disable Long Arn settings") }
        case .guardDutyActivate:
            throw .invalidParameter("guardDutyActivate is read-only: GuardDuty manages it.")
        default: break
        }
        guard AccountSettings.rules[name]?.values.contains(value) == true else { throw .invalidParameter("Invalid setting 'value'") }
    }
}

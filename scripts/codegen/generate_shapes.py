#!/usr/bin/env python3
"""Generates Swift Codable value types from an AWS API model shipped with botocore.

The wire names, member types, enums and required members come straight from the model, so the
request and response shapes Stevedore decodes and encodes are exactly AWS's. Run it from the
repository root after `pip install botocore`:

    python3 scripts/codegen/generate_shapes.py ecs
"""
import glob
import gzip
import json
import os
import re
import sys

import botocore

SERVICES = {
    # service: (model path, output file, shape-name prefix, operations to generate)
    "ecs": (
        "ecs/2014-11-13/service-2.json.gz",
        "Sources/Shapes/ECS/ECSShapes.swift",
        "",
        [
            "CreateCapacityProvider", "CreateCluster", "CreateService", "DeleteAttributes",
            "DeleteCapacityProvider", "DeleteCluster", "DeleteService", "DeleteTaskDefinitions",
            "DeregisterContainerInstance", "DeregisterTaskDefinition", "DescribeCapacityProviders",
            "DescribeClusters", "DescribeContainerInstances", "DescribeServices", "DescribeTaskDefinition",
            "DescribeTasks", "DiscoverPollEndpoint", "ListAttributes", "ListClusters",
            "ListContainerInstances", "ListServices", "ListTagsForResource", "ListTaskDefinitionFamilies",
            "ListTaskDefinitions", "ListTasks", "PutAttributes", "PutClusterCapacityProviders",
            "RegisterContainerInstance", "RegisterTaskDefinition", "RunTask", "StartTask", "StopTask",
            "SubmitContainerStateChange", "SubmitTaskStateChange", "TagResource", "UntagResource",
            "UpdateCapacityProvider", "UpdateCluster", "UpdateClusterSettings",
            "UpdateContainerInstancesState", "UpdateService", "PutAccountSetting", "PutAccountSettingDefault",
            "ListAccountSettings", "DeleteAccountSetting", "GetTaskProtection", "UpdateTaskProtection",
            "CreateTaskSet", "DescribeTaskSets", "UpdateTaskSet", "DeleteTaskSet", "UpdateServicePrimaryTaskSet",
            "ListServiceDeployments", "DescribeServiceDeployments", "StopServiceDeployment", "DescribeServiceRevisions",
            "ExecuteCommand",
        ],
    ),
    "lambda": (
        "lambda/2015-03-31/service-2.json.gz",
        "Sources/Shapes/Lambda/LambdaShapes.swift",
        "Lambda",
        [
            "CreateFunction", "GetFunction", "GetFunctionConfiguration", "ListFunctions", "UpdateFunctionCode",
            "UpdateFunctionConfiguration", "DeleteFunction", "PublishVersion", "ListVersionsByFunction",
            "CreateAlias", "UpdateAlias", "GetAlias", "ListAliases", "DeleteAlias", "PublishLayerVersion",
            "GetLayerVersion", "GetLayerVersionByArn", "ListLayers", "ListLayerVersions", "DeleteLayerVersion",
            "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency",
            "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
            "DeleteFunctionEventInvokeConfig", "ListFunctionEventInvokeConfigs", "GetAccountSettings",
            "TagResource", "UntagResource", "ListTags", "CreateEventSourceMapping", "GetEventSourceMapping",
            "ListEventSourceMappings", "UpdateEventSourceMapping", "DeleteEventSourceMapping", "CreateFunctionUrlConfig",
            "GetFunctionUrlConfig", "UpdateFunctionUrlConfig", "DeleteFunctionUrlConfig", "ListFunctionUrlConfigs",
        ],
    ),
    "application-autoscaling": (
        "application-autoscaling/2016-02-06/service-2.json.gz",
        "Sources/Shapes/ApplicationAutoScaling/ApplicationAutoScalingShapes.swift",
        "AAS",
        [
            "RegisterScalableTarget", "DeregisterScalableTarget", "DescribeScalableTargets", "PutScalingPolicy",
            "DeleteScalingPolicy", "DescribeScalingPolicies", "PutScheduledAction", "DeleteScheduledAction",
            "DescribeScheduledActions", "DescribeScalingActivities",
        ],
    ),
    "sqs": (
        "sqs/2012-11-05/service-2.json.gz",
        "Sources/Shapes/SQS/SQSShapes.swift",
        "SQS",
        [
            "CreateQueue", "GetQueueUrl", "ListQueues", "DeleteQueue", "PurgeQueue", "GetQueueAttributes",
            "SetQueueAttributes", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
            "SendMessageBatch", "DeleteMessageBatch",
        ],
    ),
    "ssm": (
        "ssm/2014-11-06/service-2.json.gz",
        "Sources/Shapes/Secrets/SSMShapes.swift",
        "SSM",
        ["PutParameter", "GetParameter", "GetParameters", "GetParametersByPath", "DeleteParameter"],
    ),
    "apigatewayv2": (
        "apigatewayv2/2018-11-29/service-2.json.gz",
        "Sources/Shapes/APIGateway/APIGatewayV2Shapes.swift",
        "V2",
        [
            "CreateApi", "GetApi", "GetApis", "UpdateApi", "DeleteApi", "CreateRoute", "GetRoute", "GetRoutes",
            "UpdateRoute", "DeleteRoute", "CreateIntegration", "GetIntegration", "GetIntegrations",
            "UpdateIntegration", "DeleteIntegration", "CreateStage", "GetStage", "GetStages", "UpdateStage",
            "DeleteStage", "CreateDeployment", "GetDeployment", "GetDeployments", "DeleteDeployment",
            "GetTags", "TagResource", "UntagResource", "CreateAuthorizer", "GetAuthorizer", "GetAuthorizers",
            "UpdateAuthorizer", "DeleteAuthorizer", "ImportApi", "ReimportApi", "ExportApi",
            "CreateRouteResponse", "GetRouteResponse", "GetRouteResponses", "UpdateRouteResponse", "DeleteRouteResponse",
            "CreateIntegrationResponse", "GetIntegrationResponse", "GetIntegrationResponses", "UpdateIntegrationResponse",
            "DeleteIntegrationResponse",
        ],
    ),
    "apigateway": (
        "apigateway/2015-07-09/service-2.json.gz",
        "Sources/Shapes/APIGateway/APIGatewayV1Shapes.swift",
        "V1",
        [
            "CreateRestApi", "GetRestApi", "GetRestApis", "UpdateRestApi", "DeleteRestApi", "GetResources", "GetResource",
            "CreateResource", "DeleteResource", "PutMethod", "GetMethod", "DeleteMethod", "PutMethodResponse", "GetMethodResponse",
            "DeleteMethodResponse", "PutIntegration", "GetIntegration", "DeleteIntegration", "PutIntegrationResponse",
            "GetIntegrationResponse", "DeleteIntegrationResponse", "CreateDeployment", "GetDeployment", "GetDeployments",
            "DeleteDeployment", "CreateStage", "GetStage", "GetStages", "UpdateStage", "DeleteStage", "CreateApiKey", "GetApiKey",
            "GetApiKeys", "DeleteApiKey", "UpdateApiKey", "CreateUsagePlan", "GetUsagePlan", "GetUsagePlans", "DeleteUsagePlan",
            "UpdateUsagePlan", "CreateUsagePlanKey", "GetUsagePlanKeys", "DeleteUsagePlanKey", "GetUsage", "CreateAuthorizer",
            "GetAuthorizer", "GetAuthorizers", "DeleteAuthorizer", "ImportRestApi", "PutRestApi", "CreateModel", "GetModel",
            "GetModels", "UpdateModel", "DeleteModel", "CreateRequestValidator", "GetRequestValidator", "GetRequestValidators",
            "UpdateRequestValidator", "DeleteRequestValidator",
        ],
    ),
    "logs": (
        "logs/2014-03-28/service-2.json.gz",
        "Sources/Shapes/Logs/LogsShapes.swift",
        "CWL",
        [
            "CreateLogGroup", "DeleteLogGroup", "DescribeLogGroups", "CreateLogStream", "DeleteLogStream",
            "DescribeLogStreams", "PutLogEvents", "GetLogEvents", "FilterLogEvents", "PutRetentionPolicy",
            "DeleteRetentionPolicy", "TagLogGroup", "UntagLogGroup", "ListTagsLogGroup", "TagResource", "UntagResource",
            "ListTagsForResource", "PutSubscriptionFilter", "DescribeSubscriptionFilters", "DeleteSubscriptionFilter",
        ],
    ),
    "events": (
        "events/2015-10-07/service-2.json.gz",
        "Sources/Shapes/Events/EventsShapes.swift",
        "EVB",
        [
            "CreateEventBus", "DeleteEventBus", "DescribeEventBus", "ListEventBuses", "PutRule", "DescribeRule",
            "DeleteRule", "EnableRule", "DisableRule", "ListRules", "ListRuleNamesByTarget", "PutTargets",
            "RemoveTargets", "ListTargetsByRule", "PutEvents", "TestEventPattern", "TagResource", "UntagResource",
            "ListTagsForResource",
        ],
    ),
    "scheduler": (
        "scheduler/2021-06-30/service-2.json.gz",
        "Sources/Shapes/Scheduler/SchedulerShapes.swift",
        "SCH",
        [
            "CreateSchedule", "GetSchedule", "UpdateSchedule", "DeleteSchedule", "ListSchedules", "CreateScheduleGroup",
            "GetScheduleGroup", "DeleteScheduleGroup", "ListScheduleGroups", "TagResource", "UntagResource", "ListTagsForResource",
        ],
    ),
    "secretsmanager": (
        "secretsmanager/2017-10-17/service-2.json.gz",
        "Sources/Shapes/Secrets/SecretsManagerShapes.swift",
        "SM",
        ["CreateSecret", "GetSecretValue", "PutSecretValue", "DeleteSecret"],
    ),
    "athena": (
        "athena/2017-05-18/service-2.json.gz",
        "Sources/Shapes/Athena/AthenaShapes.swift",
        "Athena",
        [
            "StartQueryExecution", "GetQueryExecution", "GetQueryResults", "StopQueryExecution", "ListQueryExecutions",
            "BatchGetQueryExecution", "ListDatabases", "GetDatabase", "ListTableMetadata", "GetTableMetadata",
            "ListDataCatalogs", "GetDataCatalog", "GetWorkGroup", "ListWorkGroups", "CreateWorkGroup", "UpdateWorkGroup",
            "DeleteWorkGroup", "CreateNamedQuery", "GetNamedQuery", "ListNamedQueries", "DeleteNamedQuery", "BatchGetNamedQuery",
            "CreatePreparedStatement", "GetPreparedStatement", "UpdatePreparedStatement", "DeletePreparedStatement",
            "ListPreparedStatements", "BatchGetPreparedStatement",
        ],
    ),
    "glue": (
        "glue/2017-03-31/service-2.json.gz",
        "Sources/Shapes/Glue/GlueShapes.swift",
        "Glue",
        [
            "CreateDatabase", "GetDatabase", "GetDatabases", "UpdateDatabase", "DeleteDatabase", "CreateTable", "GetTable", "GetTables",
            "UpdateTable", "DeleteTable", "BatchDeleteTable", "CreatePartition", "BatchCreatePartition", "GetPartition", "GetPartitions",
            "DeletePartition", "BatchDeletePartition",
        ],
    ),
}

# Members left out (`Shape.Member`): they make a shape contain itself (Glue's Table → Status →
# Details → RequestedChange: Table), which a Swift value type cannot, and Stevedore never sets them.
OMITTED_MEMBERS = {"Table.Status"}

# Shape names that would shadow Swift, Foundation, Testing or ServiceLifecycle types.
RENAMES = {"Task": "ECSTask", "Service": "ECSService", "Tag": "ResourceTag"}

SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
    "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows", "static",
    "struct", "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do",
    "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while",
    "as", "catch", "false", "is", "nil", "super", "self", "Self", "throw", "throws", "true", "try", "Type",
}


def ident(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def case_name(value):
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", value) if p]
    if not parts:
        return "empty"
    words = []
    for i, part in enumerate(parts):
        low = part.lower() if (part.isupper() or part.isdigit() or i == 0 and part[:1].isupper() and part[1:2].isupper()) else part
        if i == 0:
            words.append(low[:1].lower() + low[1:])
        else:
            words.append(low[:1].upper() + low[1:])
    name = "".join(words)
    if name[0].isdigit():
        name = "v" + name
    if name == "none":
        name = "none_"
    return ident(name)


class Generator:
    def __init__(self, model, prefix):
        self.shapes = model["shapes"]
        self.prefix = prefix
        self.emitted = []
        self.seen = set()

    def type_name(self, shape_name):
        return self.prefix + RENAMES.get(shape_name, shape_name)

    def swift_type(self, shape_name):
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "string":
            if "enum" in shape:
                self.visit(shape_name)
                return self.type_name(shape_name)
            return "String"
        if t in ("integer", "long"):
            return "Int"
        if t in ("double", "float"):
            return "Double"
        if t == "boolean":
            return "Bool"
        if t == "timestamp":
            # REST-JSON services that name ISO 8601 keep the text as it goes on the wire.
            return "String" if shape.get("timestampFormat") == "iso8601" else "Date"
        if t == "blob":
            return "Data"
        if t == "list":
            return f"[{self.swift_type(shape['member']['shape'])}]"
        if t == "map":
            return f"[String: {self.swift_type(shape['value']['shape'])}]"
        if t == "structure":
            if shape.get("document"):
                return "JSONValue"
            self.visit(shape_name)
            return self.type_name(shape_name)
        raise ValueError(f"unsupported shape type {t} for {shape_name}")

    def visit(self, shape_name):
        if shape_name in self.seen:
            return
        self.seen.add(shape_name)
        shape = self.shapes[shape_name]
        if shape["type"] == "string":
            self.emitted.append(self.enum(shape_name, shape))
        else:
            self.emitted.append(None)  # placeholder keeps a stable order while members are visited
            index = len(self.emitted) - 1
            self.emitted[index] = self.struct(shape_name, shape)

    def enum(self, shape_name, shape):
        name = self.type_name(shape_name)
        values = shape["enum"]
        cases = [(case_name(v), v) for v in values]
        if len({c for c, _ in cases}) != len(cases):
            cases = [(f"{c}{i}", v) for i, (c, v) in enumerate(cases)]
        lines = [f"public enum {name}: String, Codable, Sendable, CaseIterable, AWSEnum, JSONWritable {{"]
        lines += [f'    case {c} = "{v}"' for c, v in cases]
        lines += [
            "",
            "    public init(from decoder: any Decoder) throws {",
            "        self = try Self.decodeValue(from: decoder)",
            "    }",
            "}",
        ]
        return "\n".join(lines)

    def struct(self, shape_name, shape):
        name = self.type_name(shape_name)
        required = set(shape.get("required", []))
        members = []
        for model_name, member in shape.get("members", {}).items():
            if f"{shape_name}.{model_name}" in OMITTED_MEMBERS:
                continue
            swift = self.swift_type(member["shape"])
            # A body member's wire name is its locationName when it has one (REST-JSON's camelCase).
            member_name = model_name if "location" in member else member.get("locationName", model_name)
            # Members bound to the URI, query string or headers (REST protocols) are filled in by
            # the handler, never decoded from the body, so they stay optional here.
            optional = model_name not in required or "location" in member
            body_names = {m.get("locationName", n) for n, m in shape.get("members", {}).items() if "location" not in m}
            if "location" in member and member_name in body_names:
                # A URI member named as a body member (PutIntegration's httpMethod): the body's wins.
                continue
            members.append((member_name, swift, optional))
        lines = [f"public struct {name}: Codable, Sendable, Equatable, JSONWritable {{"]
        for member_name, swift, optional in members:
            lines.append(f"    public var {ident(member_name)}: {swift}{'?' if optional else ''}")
        if members:
            params = ", ".join(
                f"{ident(m)}: {t}{'? = nil' if o else ''}" for m, t, o in members
            )
            lines.append("")
            lines.append(f"    public init({params}) {{")
            for member_name, _, _ in members:
                lines.append(f"        self.{ident(member_name)} = {ident(member_name)}")
            lines.append("    }")
        else:
            lines.append("")
            lines.append("    public init() {}")
        # The members as Codable writes them (declaration order, nil left out), without its containers.
        lines.append("")
        lines.append("    public func writeJSON(to json: inout JSONWriter) throws {")
        if members:
            lines.append("        var separated = false")
        lines.append("        json.open()")
        for member_name, _, _ in members:
            lines.append(f'        try json.member("\\"{member_name}\\":", {ident(member_name)}, &separated)')
        lines.append("        json.close()")
        lines.append("    }")
        lines.append("}")
        return "\n".join(lines)


def main():
    service = sys.argv[1]
    model_path, output, prefix, operations = SERVICES[service]
    data_dir = os.path.join(os.path.dirname(botocore.__file__), "data")
    with gzip.open(os.path.join(data_dir, model_path)) as f:
        model = json.load(f)
    gen = Generator(model, prefix)
    for op in operations:
        spec = model["operations"][op]
        for key in ("input", "output"):
            if key in spec:
                gen.visit(spec[key]["shape"])
    header = (
        f"// Generated by scripts/codegen/generate_shapes.py from botocore {botocore.__version__}'s\n"
        f"// {model_path} ({model['metadata']['serviceFullName']}). Do not edit by hand.\n\n"
        "#if canImport(FoundationEssentials)\nimport FoundationEssentials\n#else\nimport Foundation\n#endif\nimport StevedoreCore\n"
    )
    # Three files per service, so that no one file runs to thousands of lines: the enums, the
    # operations' requests and responses, and the shapes they are made of.
    files = {"Enums": [], "Operations": [], "Shapes": []}
    for shape in sorted(gen.emitted, key=lambda s: re.match(r"public (?:enum|struct) (\w+)", s).group(1)):
        kind, name = re.match(r"public (enum|struct) (\w+)", shape).groups()
        if kind == "enum":
            files["Enums"].append(shape)
        elif name.endswith("Request") or name.endswith("Response"):
            files["Operations"].append(shape)
        else:
            files["Shapes"].append(shape)
    if model["metadata"]["protocol"] == "rest-json":
        files["Operations"].append(rest_operations(model, prefix or service.upper()))
    # A part longer than a file should be is cut, in name order, into files named by the range of
    # names they hold (ECSShapes-A-C.swift).
    base = output[: -len("Shapes.swift")]
    for stale in glob.glob(base + "Enums*.swift") + glob.glob(base + "Operations*.swift") + glob.glob(base + "Shapes*.swift"):
        os.remove(stale)
    for part, shapes in files.items():
        for path, chunk in chunks(base + part, shapes):
            with open(path, "w") as f:
                f.write(header + "\n" + "\n\n".join(chunk) + "\n")
            print(f"wrote {path}: {len(chunk)} declarations")
    write_shape_list(service, output, model_path, gen.emitted)


def write_shape_list(service, output, model_path, emitted):
    """Every generated struct of a service, for the test that writes each one both ways (its own
    JSON and Codable's) and compares the bytes."""
    module = os.path.basename(os.path.dirname(output)) + "Shapes"
    names = sorted(re.match(r"public struct (\w+)", s).group(1) for s in emitted if s.startswith("public struct"))
    variable = re.sub(r"[^A-Za-z0-9]+(.)", lambda m: m.group(1).upper(), service)
    path = f"Tests/StevedoreCoreTests/ShapeLists/{os.path.basename(output)[: -len('.swift')]}List.swift"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(
            f"// Generated by scripts/codegen/generate_shapes.py from {model_path}. Do not edit by hand.\n\n"
            f"import {module}\nimport StevedoreCore\n\n"
            "extension ShapeLists {\n"
            f"    static var {variable}: [any (JSONWritable & Decodable).Type] {{\n        [\n"
            + "".join(f"            {name}.self,\n" for name in names)
            + "        ]\n    }\n}\n"
        )
    print(f"wrote {path}: {len(names)} structs")


LINES_PER_FILE = 500


def chunks(stem, shapes):
    """The files of one part: (path, declarations), each at most LINES_PER_FILE lines long unless
    a single declaration is longer."""
    if not shapes:
        return []
    groups, current, lines = [], [], 0
    for shape in shapes:
        size = shape.count("\n") + 2
        if current and lines + size > LINES_PER_FILE:
            groups.append(current)
            current, lines = [], 0
        current.append(shape)
        lines += size
    groups.append(current)
    if len(groups) == 1:
        return [(stem + ".swift", groups[0])]

    def name(shape):
        match = re.match(r"public (?:enum|struct) (\w+)", shape)
        return match.group(1) if match else "Catalogue"

    return [(f"{stem}-{name(group[0])}-{name(group[-1])}.swift", group) for group in groups]


def rest_operations(model, prefix):
    """Every operation of a REST service, with its method and path template: the server names an
    operation it does not serve instead of answering as if the path were unknown."""
    rows = []
    for name in sorted(model["operations"]):
        http = model["operations"][name]["http"]
        uri = http["requestUri"].split("?")[0]
        rows.append(f'        RESTOperation(name: "{name}", method: "{http["method"]}", path: "{uri}"),')
    # API Gateway has a shape named Model of its own: the catalogue then takes another name.
    catalogue = f"{prefix}ServiceModel" if "Model" in model["shapes"] else f"{prefix}Model"
    return (
        f"/// Every operation in the {model['metadata']['serviceFullName']} model, served here or not.\n"
        f"public enum {catalogue} {{\n"
        "    public static let operations: [RESTOperation] = [\n" + "\n".join(rows) + "\n    ]\n}"
    )


if __name__ == "__main__":
    main()

/// The store's schema, by version: the record kinds (one table each) every version adds. Both
/// stores (SQLite, PostgreSQL) create them in this order and remember the version they reached; a
/// new service appends a version with the tables of its record kinds.
public enum StoreSchema {
    public static let versions: [[String]] = [
        // 1: the records of the foundation (clusters, task definitions, tags).
        ["clusters", "task_definitions", "families", "tags"],
        // 2: the scheduler's records (container instances, tasks, services, counters).
        ["container_instances", "tasks", "services", "meta"],
        // 3: functions, layers, the asynchronous invocation queue, SQS queues and messages.
        ["functions", "layers", "async_events", "queues", "queue_messages"],
        // 4: auto scaling: scalable targets, capacity providers, auto scaling groups.
        ["scalable_targets", "capacity_providers", "auto_scaling_groups"],
        // 5: idempotency tokens (RunTask's clientToken), honoured across restarts; stopped tasks
        // apart from live ones, behind a summary line, so a start need not decode them.
        ["client_tokens", "stopped_tasks"],
        // 6: IAM users and roles (with their inline policies) and access keys (secrets sealed);
        // SSM parameters and Secrets Manager secrets (values sealed).
        ["iam_users", "iam_access_keys", "iam_roles", "ssm_parameters", "secrets"],
        // 7: API Gateway's APIs, each with its routes, integrations, stages and deployments.
        ["gateway_apis"],
        // 8: API Gateway's REST APIs (each with its resources, deployments and stages), API keys
        // and usage plans.
        ["gateway_rest_apis", "gateway_api_keys", "gateway_usage_plans"],
        // 9: Elastic Load Balancing's target groups (their health checks).
        ["elb_target_groups"],
        // 10: CloudWatch Logs' log groups (with their streams; the events are files of their own).
        ["log_groups"],
        // 11: EventBridge's buses, rules (with their targets) and deliveries waiting to be retried.
        ["event_buses", "event_rules", "event_deliveries"],
        // 12: Lambda's event source mappings.
        ["event_source_mappings"],
        // 13: SNS's topics (with their subscriptions) and HTTP(S) deliveries waiting to be made.
        ["sns_topics", "sns_deliveries"],
        // 14: EventBridge Scheduler's schedules and schedule groups.
        ["schedules", "schedule_groups"],
        // 15: S3's buckets, object records (the bytes are files beside the store) and multipart uploads.
        ["s3_buckets", "s3_objects", "s3_uploads"],
        // 16: CloudFormation's stacks (each with its resources, events, change sets and the operation under way).
        ["cfn_stacks"],
        // 17: Athena's databases (each with its tables and their partitions), query executions,
        // work groups and named queries.
        ["athena_databases", "athena_queries", "athena_work_groups", "athena_named_queries"],
        // 18: ECS's account settings, per principal.
        ["account_settings"],
        // 19: ECS's service deployments and service revisions.
        ["service_deployments", "service_revisions"],
        // 20: Athena's prepared statements.
        ["athena_prepared_statements"],
        // 21: IAM's customer managed policies (with their versions).
        ["iam_policies"],
    ]

    /// Every table, in the order the versions create them.
    public static let tables: [String] = versions.flatMap { $0 }
    static let tableNames = Set(tables)
}

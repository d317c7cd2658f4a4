"""IAM users, access keys and policies, as `aws iam`, boto3 and `ecsctl auth` manage them: keys that
sign, policies that limit them, AccessDeniedException in AWS's words, revocation that takes effect
at once, and secrets stored sealed."""
import json
import os
import sqlite3
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, Ecsd
from test_authentication import admin_credentials, client, refusal

READ_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*"}]})


@pytest.fixture(scope="module")
def iam_ecsd(tmp_path_factory):
    server = Ecsd(str(tmp_path_factory.mktemp("iam")), auth="on").start()
    yield server
    server.stop()


def admin(server, service):
    _, key_id, secret = admin_credentials(server)
    return client(server, service, key_id, secret)


def user_with_key(server, name, policy=None):
    iam = admin(server, "iam")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_aws_cli_manages_users_keys_and_policies(iam_ecsd):
    path, _, _ = admin_credentials(iam_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_DEFAULT_REGION="us-east-1")

    def aws(*args):
        done = subprocess.run(["aws", "iam", *args, "--endpoint-url", iam_ecsd.endpoint], env=env, capture_output=True, text=True,
                              timeout=60)
        return done.returncode, done.stdout, done.stderr

    code, out, err = aws("create-user", "--user-name", "cli-user")
    assert code == 0, err
    user = json.loads(out)["User"]
    assert user["Arn"] == "arn:aws:iam::000000000000:user/cli-user" and user["UserId"].startswith("AIDA")
    code, out, err = aws("put-user-policy", "--user-name", "cli-user", "--policy-name", "read", "--policy-document", READ_ONLY)
    assert code == 0, err
    code, out, err = aws("get-user-policy", "--user-name", "cli-user", "--policy-name", "read")
    assert code == 0, err
    # botocore decodes the percent-encoded document IAM answers with.
    assert json.loads(out)["PolicyDocument"] == json.loads(READ_ONLY)
    code, out, err = aws("create-access-key", "--user-name", "cli-user")
    assert code == 0, err
    key = json.loads(out)["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40 and key["Status"] == "Active"
    code, out, err = aws("list-access-keys", "--user-name", "cli-user")
    assert [k["AccessKeyId"] for k in json.loads(out)["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    code, out, err = aws("list-users")
    assert "cli-user" in [u["UserName"] for u in json.loads(out)["Users"]]
    # IAM's errors, as the CLI prints them.
    code, out, err = aws("create-user", "--user-name", "cli-user")
    assert code != 0 and "EntityAlreadyExists" in err and "User with name cli-user already exists." in err
    code, out, err = aws("get-user", "--user-name", "nobody")
    assert code != 0 and "NoSuchEntity" in err and "The user with name nobody cannot be found." in err
    code, out, err = aws("put-user-policy", "--user-name", "cli-user", "--policy-name", "bad", "--policy-document", "{")
    assert code != 0 and "MalformedPolicyDocument" in err
    code, out, err = aws("delete-user", "--user-name", "cli-user")
    assert code != 0 and "DeleteConflict" in err


def test_a_read_only_key_describes_but_cannot_run_tasks(iam_ecsd):
    admin(iam_ecsd, "ecs").create_cluster(clusterName="guarded")
    key_id, secret = user_with_key(iam_ecsd, "reader", READ_ONLY)
    ecs = client(iam_ecsd, "ecs", key_id, secret)
    assert ecs.describe_tasks(cluster="guarded", tasks=["0123456789abcdef0123456789abcdef"])["failures"][0]["reason"] == "MISSING"
    assert any(arn.endswith("/guarded") for arn in ecs.list_clusters()["clusterArns"])
    code, message, status = refusal(lambda: ecs.run_task(cluster="guarded", taskDefinition="web:1"))
    assert code == "AccessDeniedException" and status == 400
    assert message == ("User: arn:aws:iam::000000000000:user/reader is not authorized to perform: ecs:RunTask on resource: "
                       "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1 because no identity-based policy allows the "
                       "ecs:RunTask action")
    # Nor may it manage IAM, or call Lambda (a REST service: 403).
    code, message, status = refusal(lambda: client(iam_ecsd, "iam", key_id, secret).create_user(UserName="escalate"))
    assert code == "AccessDenied" and status == 403 and "iam:CreateUser on resource: arn:aws:iam::000000000000:user/escalate" in message
    code, message, status = refusal(lambda: client(iam_ecsd, "lambda", key_id, secret).list_functions())
    assert code == "AccessDeniedException" and status == 403 and "lambda:ListFunctions" in message


def test_an_explicit_deny_wins_over_an_allow(iam_ecsd):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecs:CreateCluster", "Resource": "arn:aws:ecs:us-east-1:000000000000:cluster/prod*"}]})
    key_id, secret = user_with_key(iam_ecsd, "deployer", policy)
    ecs = client(iam_ecsd, "ecs", key_id, secret)
    ecs.create_cluster(clusterName="staging-by-deployer")
    code, message, status = refusal(lambda: ecs.create_cluster(clusterName="prod-by-deployer"))
    assert code == "AccessDeniedException"
    assert message.endswith("on resource: arn:aws:ecs:us-east-1:000000000000:cluster/prod-by-deployer with an explicit deny in "
                            "an identity-based policy")


def test_policies_written_for_aws_match_secret_suffixes_and_role_paths(iam_ecsd):
    """AWS's documented patterns: a secret's random suffix as `-??????`, a role under its path."""
    admin(iam_ecsd, "secretsmanager").create_secret(Name="app/db", SecretString="s3cret")
    admin(iam_ecsd, "secretsmanager").create_secret(Name="app/other", SecretString="no")
    admin(iam_ecsd, "iam").create_role(RoleName="runner", Path="/service/", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-??????"},
        {"Effect": "Allow", "Action": ["ecs:RegisterTaskDefinition"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::000000000000:role/service/*"}]})
    key_id, secret = user_with_key(iam_ecsd, "suffixes", policy)
    secrets = client(iam_ecsd, "secretsmanager", key_id, secret)
    assert secrets.get_secret_value(SecretId="app/db")["SecretString"] == "s3cret"
    code, message, _ = refusal(lambda: secrets.get_secret_value(SecretId="app/other"))
    assert code == "AccessDeniedException"
    assert "on resource: arn:aws:secretsmanager:us-east-1:000000000000:secret:app/other-" in message
    ecs = client(iam_ecsd, "ecs", key_id, secret)
    ecs.register_task_definition(family="by-path", taskRoleArn="runner",
                                 containerDefinitions=[{"name": "a", "image": "x", "memory": 16}])
    code, _, _ = refusal(lambda: ecs.register_task_definition(
        family="by-path", taskRoleArn="arn:aws:iam::000000000000:role/elsewhere",
        containerDefinitions=[{"name": "a", "image": "x", "memory": 16}]))
    assert code == "AccessDeniedException"


def test_a_revoked_or_deactivated_key_stops_working_at_once(iam_ecsd):
    key_id, secret = user_with_key(iam_ecsd, "leaver", READ_ONLY)
    ecs = client(iam_ecsd, "ecs", key_id, secret)
    assert "clusterArns" in ecs.list_clusters()
    iam = admin(iam_ecsd, "iam")
    iam.update_access_key(UserName="leaver", AccessKeyId=key_id, Status="Inactive")
    assert refusal(lambda: ecs.list_clusters())[0] == "UnrecognizedClientException"
    iam.update_access_key(UserName="leaver", AccessKeyId=key_id, Status="Active")
    assert "clusterArns" in ecs.list_clusters()
    iam.delete_access_key(UserName="leaver", AccessKeyId=key_id)
    code, message, status = refusal(lambda: ecs.list_clusters())
    assert code == "UnrecognizedClientException" and message == "The security token included in the request is invalid."
    # Query services word it their way.
    code, message, status = refusal(lambda: client(iam_ecsd, "sts", key_id, secret).get_caller_identity())
    assert code == "InvalidClientTokenId" and status == 403


def test_get_caller_identity_names_the_signer(iam_ecsd):
    key_id, secret = user_with_key(iam_ecsd, "nobody-allowed")  # no policy at all
    me = client(iam_ecsd, "sts", key_id, secret).get_caller_identity()
    assert me["Arn"] == "arn:aws:iam::000000000000:user/nobody-allowed" and me["Account"] == "000000000000"
    assert me["UserId"].startswith("AIDA")
    root = admin(iam_ecsd, "sts").get_caller_identity()
    assert root["Arn"] == "arn:aws:iam::000000000000:root"
    # A wrong secret is a query-protocol SignatureDoesNotMatch.
    code, _, status = refusal(lambda: client(iam_ecsd, "sts", key_id, "x" * 40).get_caller_identity())
    assert code == "SignatureDoesNotMatch" and status == 403


def test_keys_survive_a_restart_and_are_stored_sealed(iam_ecsd):
    key_id, secret = user_with_key(iam_ecsd, "durable", READ_ONLY)
    iam_ecsd.stop()
    iam_ecsd.start()
    assert "clusterArns" in client(iam_ecsd, "ecs", key_id, secret).list_clusters()
    database = sqlite3.connect(os.path.join(iam_ecsd.data_dir, "ecsd.db"))
    rows = [body for (body,) in database.execute("SELECT body FROM iam_access_keys")]
    database.close()
    assert any(key_id in body for body in rows)
    assert not any(secret in body for body in rows)
    assert secret not in iam_ecsd.log()
    assert oct(os.stat(os.path.join(iam_ecsd.data_dir, "secret.key")).st_mode & 0o777) == "0o600"


def test_ecsctl_auth_key_create_ls_rm(iam_ecsd):
    path, _, _ = admin_credentials(iam_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ECS_ENDPOINT=iam_ecsd.endpoint, AWS_SHARED_CREDENTIALS_FILE=path)
    ecsctl = os.path.join(BIN, "ecsctl")

    def run(*args, environment=env):
        return subprocess.run([ecsctl, *args], env=environment, capture_output=True, text=True, timeout=30)

    made = run("auth", "key", "create", "--user", "ops", "--policy", "read-only")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("[ops]\naws_access_key_id = AKIA")
    profile_file = os.path.join(iam_ecsd.data_dir, "ops-credentials")
    with open(profile_file, "w") as f:
        f.write(made.stdout)
    as_ops = dict(env, AWS_SHARED_CREDENTIALS_FILE=profile_file, AWS_PROFILE="ops")
    assert run("auth", "whoami", environment=as_ops).stdout.strip() == "arn:aws:iam::000000000000:user/ops"
    assert run("cluster", "ls", environment=as_ops).returncode == 0
    denied = run("cluster", "create", "by-ops", environment=as_ops)
    assert denied.returncode != 0 and "AccessDeniedException" in denied.stderr
    key_id = made.stdout.split("aws_access_key_id = ")[1].split()[0]
    listed = run("auth", "key", "ls")
    assert listed.returncode == 0 and key_id in listed.stdout and "ops" in listed.stdout
    removed = run("auth", "key", "rm", key_id)
    assert removed.returncode == 0, removed.stderr
    after = run("cluster", "ls", environment=as_ops)
    assert after.returncode != 0 and "UnrecognizedClientException" in after.stderr


def test_the_example_deployer_policy_works_as_the_readme_says(iam_ecsd):
    path, _, _ = admin_credentials(iam_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_DEFAULT_REGION="us-east-1")
    example = os.path.join(os.path.dirname(__file__), "..", "..", "Examples", "policies", "deployer.json")
    for args in (["create-user", "--user-name", "example-deployer"],
                 ["put-user-policy", "--user-name", "example-deployer", "--policy-name", "deploy", "--policy-document", "file://" + example]):
        done = subprocess.run(["aws", "iam", *args, "--endpoint-url", iam_ecsd.endpoint], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
    key = admin(iam_ecsd, "iam").create_access_key(UserName="example-deployer")["AccessKey"]
    ecs = client(iam_ecsd, "ecs", key["AccessKeyId"], key["SecretAccessKey"])
    ecs.register_task_definition(family="admin-tools", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 16}])
    ecs.register_task_definition(family="web-example", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 16}])
    code, message, _ = refusal(lambda: ecs.run_task(taskDefinition="admin-tools:1"))
    assert code == "AccessDeniedException" and "with an explicit deny" in message
    # Allowed by the policy: whatever placement answers, it is not a refusal.
    admin(iam_ecsd, "ecs").create_cluster(clusterName="default")
    try:
        ecs.run_task(taskDefinition="web-example:1")
    except ClientError as error:
        assert error.response["Error"]["Code"] != "AccessDeniedException", error
    code, _, _ = refusal(lambda: ecs.delete_cluster(cluster="default"))
    assert code == "AccessDeniedException"


def test_managed_policies_attach_version_and_grant(iam_ecsd):
    """Customer managed policies and AWS's (`arn:aws:iam::aws:policy/…`): attached to a user they grant
    at once, a new default version changes what they grant, and IAM's conflicts are refused in its words."""
    iam = admin(iam_ecsd, "iam")
    key_id, secret = user_with_key(iam_ecsd, "managed")
    sqs = client(iam_ecsd, "sqs", key_id, secret)
    s3 = client(iam_ecsd, "s3", key_id, secret)
    assert refusal(lambda: s3.list_buckets())[0] == "AccessDenied"

    # One of AWS's: S3 read-only.
    iam.attach_user_policy(UserName="managed", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert "Buckets" in s3.list_buckets()
    assert refusal(lambda: s3.create_bucket(Bucket="not-allowed"))[0] == "AccessDenied"
    aws_policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")["Policy"]
    assert aws_policy["AttachmentCount"] == 1 and aws_policy["DefaultVersionId"] == "v1" and aws_policy["IsAttachable"]
    code, message, _ = refusal(lambda: iam.attach_user_policy(UserName="managed", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy"))
    assert code == "NoSuchEntity" and message == "Policy arn:aws:iam::aws:policy/NoSuchPolicy does not exist or is not attachable."

    # A customer managed one, with versions.
    v1 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]})
    policy = iam.create_policy(PolicyName="queues", PolicyDocument=v1, Description="list queues")["Policy"]
    arn = policy["Arn"]
    assert arn == "arn:aws:iam::000000000000:policy/queues" and policy["DefaultVersionId"] == "v1" and policy["AttachmentCount"] == 0
    code, message, _ = refusal(lambda: iam.create_policy(PolicyName="queues", PolicyDocument=v1))
    assert code == "EntityAlreadyExists" and message == "A policy called queues already exists. Duplicate names are not allowed."
    assert refusal(lambda: iam.create_policy(PolicyName="bad", PolicyDocument="{not json"))[0] == "MalformedPolicyDocument"
    assert refusal(lambda: sqs.list_queues())[0] == "AccessDeniedException"
    iam.attach_user_policy(UserName="managed", PolicyArn=arn)
    sqs.list_queues()
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="managed")["AttachedPolicies"]] == [
        "AmazonS3ReadOnlyAccess", "queues"]
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == ["queues"]
    # Pages of AWS's policies, through boto3's paginator (the marker names the last of a page).
    paged = [p["PolicyName"] for page in iam.get_paginator("list_policies").paginate(Scope="AWS", PaginationConfig={"PageSize": 5}) for p in page["Policies"]]
    assert paged == sorted(paged) and len(paged) == len(set(paged)) > 5 and "AWSLambdaBasicExecutionRole" in paged
    assert {p["PolicyName"] for p in iam.list_policies(OnlyAttached=True)["Policies"]} == {"AmazonS3ReadOnlyAccess", "queues"}

    # A second version, made the default, grants something else.
    v2 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:CreateQueue", "Resource": "*"}]})
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=v2, SetAsDefault=True)["PolicyVersion"]["VersionId"] == "v2"
    assert refusal(lambda: sqs.list_queues())[0] == "AccessDeniedException"
    sqs.create_queue(QueueName="made-by-v2")
    assert json.loads(json.dumps(iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"])) == json.loads(v2)
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [("v2", True), ("v1", False)]
    code, message, _ = refusal(lambda: iam.delete_policy_version(PolicyArn=arn, VersionId="v2"))
    assert code == "DeleteConflict" and message == "Cannot delete the default version of a policy."
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    sqs.list_queues()

    # Conflicts: a policy attached, a user with policies attached, a policy with versions.
    code, message, _ = refusal(lambda: iam.delete_policy(PolicyArn=arn))
    assert code == "DeleteConflict" and message == "Cannot delete a policy attached to entities."
    for access_key in iam.list_access_keys(UserName="managed")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="managed", AccessKeyId=access_key["AccessKeyId"])
    code, message, _ = refusal(lambda: iam.delete_user(UserName="managed"))
    assert code == "DeleteConflict" and message == "Cannot delete entity, must detach all policies first."
    iam.detach_user_policy(UserName="managed", PolicyArn=arn)
    iam.detach_user_policy(UserName="managed", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    code, message, _ = refusal(lambda: iam.detach_user_policy(UserName="managed", PolicyArn=arn))
    assert code == "NoSuchEntity" and message == f"Policy {arn} was not found."
    iam.delete_user(UserName="managed")
    assert refusal(lambda: iam.delete_policy(PolicyArn=arn))[0] == "DeleteConflict"
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    iam.delete_policy(PolicyArn=arn)
    code, message, _ = refusal(lambda: iam.get_policy(PolicyArn=arn))
    assert code == "NoSuchEntity" and message == f"Policy {arn} was not found."


def test_a_policys_own_actions_are_checked_on_its_arn(iam_ecsd):
    """iam:CreatePolicy, GetPolicy, SetDefaultPolicyVersion… act on the policy's ARN, so policies
    written for AWS that name policies (`policy/team/*`) allow and deny them as in AWS."""
    admin_iam = admin(iam_ecsd, "iam")
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreatePolicy", "iam:GetPolicy", "iam:CreatePolicyVersion"],
         "Resource": "arn:aws:iam::000000000000:policy/team/*"},
        {"Effect": "Deny", "Action": "iam:CreatePolicyVersion", "Resource": "arn:aws:iam::000000000000:policy/team/locked"}]})
    key_id, secret = user_with_key(iam_ecsd, "policy-author", document)
    iam = client(iam_ecsd, "iam", key_id, secret)
    body = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]})
    mine = iam.create_policy(PolicyName="mine", Path="/team/", PolicyDocument=body)["Policy"]["Arn"]
    assert iam.get_policy(PolicyArn=mine)["Policy"]["Path"] == "/team/"
    iam.create_policy_version(PolicyArn=mine, PolicyDocument=body)
    assert refusal(lambda: iam.create_policy(PolicyName="elsewhere", PolicyDocument=body))[0] == "AccessDenied"
    locked = admin_iam.create_policy(PolicyName="locked", Path="/team/", PolicyDocument=body)["Policy"]["Arn"]
    code, message, _ = refusal(lambda: iam.create_policy_version(PolicyArn=locked, PolicyDocument=body))
    assert code == "AccessDenied" and f"iam:CreatePolicyVersion on resource: {locked}" in message

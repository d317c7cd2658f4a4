"""Athena on ecsd's endpoint, driven by boto3, the aws CLI and PyAthena: DDL over objects in the
object store, queries read at query time (typed columns, partitions pruned, bytes scanned
counted), results written where Athena writes them, errors as Athena reports them, a running scan
stopped, and the catalog kept across a restart."""
import base64
import csv
import io
import os
import subprocess
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, example, wait_until
from test_authentication import admin_credentials

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
RESULTS = "s3://athena-results/it/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Ecsd(str(tmp_path_factory.mktemp("athena")), auth="on").start()
    path, key_id, secret = admin_credentials(server)
    server.credentials_file = path
    server.key = (key_id, secret)
    server.client = lambda service: boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                                                 aws_secret_access_key=secret, config=NO_RETRIES)
    server.athena = server.client("athena")
    server.s3 = server.client("s3")
    server.s3.create_bucket(Bucket="athena-results")
    server.s3.create_bucket(Bucket="athena-data")
    yield server
    server.stop()


def run_query(server, sql, database="default", wait=True, **extra):
    started = server.athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database}, ResultConfiguration={"OutputLocation": RESULTS}, **extra)
    query_id = started["QueryExecutionId"]
    if not wait:
        return query_id, None
    deadline = time.time() + 60
    while time.time() < deadline:
        execution = server.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return query_id, execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not finish: {sql}")


def succeeded(server, sql, database="default", **extra):
    query_id, execution = run_query(server, sql, database, **extra)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return query_id, execution


def rows_of(server, query_id, **paging):
    result = server.athena.get_query_results(QueryExecutionId=query_id, **paging)
    return [[datum.get("VarCharValue") for datum in row["Data"]] for row in result["ResultSet"]["Rows"]], result


@pytest.fixture(scope="module")
def orders(server):
    body = "id,customer,amount,placed\n1,alice,10.5,2024-01-01 10:00:00\n2,bob,20,2024-01-02 11:30:00\n3,carol,,2024-01-03 09:00:00\n"
    server.s3.put_object(Bucket="athena-data", Key="orders/part-0.csv", Body=body.encode())
    succeeded(server, "CREATE DATABASE IF NOT EXISTS it")
    succeeded(server, """CREATE EXTERNAL TABLE IF NOT EXISTS orders (id bigint, customer string, amount double, placed timestamp)
        ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://athena-data/orders/'
        TBLPROPERTIES ('skip.header.line.count'='1')""", database="it")
    return "it.orders"


def test_a_select_answers_as_athena_does(server, orders):
    query_id, execution = succeeded(server, "SELECT customer, amount, amount * 2 AS doubled, placed FROM it.orders ORDER BY id")
    assert execution["StatementType"] == "DML" and execution["SubstatementType"] == "SELECT"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{RESULTS}{query_id}.csv"
    assert execution["QueryExecutionContext"]["Database"] == "default"
    statistics = execution["Statistics"]
    assert statistics["DataScannedInBytes"] > 0
    assert statistics["TotalExecutionTimeInMillis"] >= statistics["EngineExecutionTimeInMillis"] >= 0
    rows, result = rows_of(server, query_id)
    # The column labels come first, then the rows; a NULL is a Datum without a VarCharValue.
    assert rows == [["customer", "amount", "doubled", "placed"], ["alice", "10.5", "21.0", "2024-01-01 10:00:00.000"],
                    ["bob", "20.0", "40.0", "2024-01-02 11:30:00.000"], ["carol", None, None, "2024-01-03 09:00:00.000"]]
    columns = result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in columns] == [("customer", "varchar"), ("amount", "double"), ("doubled", "double"),
                                                         ("placed", "timestamp")]
    # Written where Athena writes it: <OutputLocation>/<id>.csv, every value quoted, NULL empty.
    written = server.s3.get_object(Bucket="athena-results", Key=f"it/{query_id}.csv")["Body"].read().decode()
    assert written.splitlines()[0] == '"customer","amount","doubled","placed"'
    assert written.splitlines()[3] == '"carol",,,"2024-01-03 09:00:00.000"'
    server.s3.head_object(Bucket="athena-results", Key=f"it/{query_id}.csv.metadata")


def test_results_page_with_the_header_on_the_first_page_only(server, orders):
    query_id, _ = succeeded(server, "SELECT id FROM orders ORDER BY id", database="it")
    first, page = rows_of(server, query_id, MaxResults=2)
    assert first == [["id"], ["1"]] and page["NextToken"]
    second, page = rows_of(server, query_id, MaxResults=2, NextToken=page["NextToken"])
    assert second == [["2"], ["3"]] and "NextToken" not in page
    with pytest.raises(ClientError) as refused:
        server.athena.get_query_results(QueryExecutionId=query_id, MaxResults=1001)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    # A token made up, or one of another execution, is refused.
    other_id, _ = succeeded(server, "SELECT id FROM orders ORDER BY id", database="it")
    other_token = rows_of(server, other_id, MaxResults=2)[1]["NextToken"]
    for forged in ["3", "999999", "-1", "x", base64.b64encode(b"3:0").decode(), other_token]:
        with pytest.raises(ClientError) as refused:
            server.athena.get_query_results(QueryExecutionId=query_id, NextToken=forged)
        assert refused.value.response["Error"]["Message"] == f"The NextToken is not valid: {forged}"


def test_a_large_result_pages_through_every_row_once(server):
    """5,000 rows of about 600 bytes with quotes, commas and newlines in them, read in pages of 1000
    with boto3's paginator: each page read from where the last ended, in reads that grow past 256 KiB
    and cut rows in the middle."""
    query_id, _ = succeeded(server, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
                                    "SELECT i, 'row \"' || i || '\", with\nnewline ' || hex(zeroblob(300)) AS note FROM n")
    rows = []
    for page in server.athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        rows += [[d.get("VarCharValue") for d in row["Data"]] for row in page["ResultSet"]["Rows"]]
    assert rows[0] == ["i", "note"] and len(rows) == 5001
    assert rows[1:] == [[str(i), f'row "{i}", with\nnewline ' + "0" * 600] for i in range(1, 5001)]


def test_the_aws_cli_runs_queries_and_lists_them(server, orders):
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": server.credentials_file, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)

    def aws(*args):
        done = subprocess.run(["aws", "--endpoint-url", server.endpoint, "athena", *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    query_id = aws("start-query-execution", "--query-string", "SELECT count(*) AS n, sum(amount) FROM it.orders",
                   "--result-configuration", f"OutputLocation={RESULTS}", "--query", "QueryExecutionId", "--output", "text")
    while aws("get-query-execution", "--query-execution-id", query_id, "--query", "QueryExecution.Status.State", "--output", "text") in ("QUEUED", "RUNNING"):
        time.sleep(0.05)
    assert aws("get-query-results", "--query-execution-id", query_id, "--query", "ResultSet.Rows[].Data[].VarCharValue", "--output", "text").split() == \
        ["n", "_col1", "3", "30.5"]
    assert query_id in aws("list-query-executions", "--query", "QueryExecutionIds", "--output", "text").split()


def test_the_example_runs_as_written_with_the_aws_cli_and_pyathena(server):
    env = {**os.environ, "AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": server.key[0], "AWS_SECRET_ACCESS_KEY": server.key[1],
           "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(["bash", example("athena", "run.sh")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "alice\t2\t50.75\t2024-01-17 16:40:00.000" in lines
    assert "bob\t2\t17.0\t2024-02-11 13:30:00.000" in lines
    assert "02\t4\t1\t250.0" in lines
    assert "orders\ts3://example-data/orders/" in lines and "2024\t02" in lines and "2024\t01" not in lines
    assert lines[lines.index("log_group\tevents\tlast_event") - 1].startswith("== the cluster's own records")
    report = subprocess.run(["python3", example("athena", "report.py")], capture_output=True, text=True, env=env, timeout=120)
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines()[:2] == ["['customer', 'amount', 'status', 'latency_ms']", "('dave', 64.1, 200, 9.5)"]


def test_a_query_over_one_of_a_hundred_partitions_reads_under_two_percent(server):
    for day in range(100):
        lines = "\n".join(f'{{"day":{day},"n":{i},"note":"{"x" * 40}"}}' for i in range(20)) + "\n"
        server.s3.put_object(Bucket="athena-data", Key=f"events/day={day:03d}/events.json", Body=lines.encode())
    succeeded(server, """CREATE EXTERNAL TABLE events (day int, n int, note string) PARTITIONED BY (day_key string)
        ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://athena-data/events/'""", database="it")
    # The layout says `day=`, the table's key is `day_key`: partitions are added by hand, with locations.
    additions = " ".join(f"PARTITION (day_key='{day:03d}') LOCATION 's3://athena-data/events/day={day:03d}/'" for day in range(100))
    succeeded(server, f"ALTER TABLE events ADD IF NOT EXISTS {additions}", database="it")
    everything, all_of_it = succeeded(server, "SELECT count(*) FROM events", database="it")
    assert rows_of(server, everything)[0][1] == ["2000"]
    one, just_one = succeeded(server, "SELECT count(*), min(day), max(day) FROM events WHERE day_key = '042'", database="it")
    assert rows_of(server, one)[0][1] == ["20", "42", "42"]
    total, read = all_of_it["Statistics"]["DataScannedInBytes"], just_one["Statistics"]["DataScannedInBytes"]
    assert 0 < read < total * 0.02, (read, total)
    partitions, _ = succeeded(server, "SHOW PARTITIONS events", database="it")
    shown = rows_of(server, partitions)[0]
    assert len(shown) == 100 and shown[0] == ["day_key=000"]


def test_partition_projection_needs_no_partitions_in_the_catalog(server, orders):
    # Hive layout with projected integer and enum keys; objects outside the projection are not read.
    for year in (2022, 2023, 2024):
        for region in ("eu", "us", "asia"):
            lines = "".join(f'{{"n":{i},"pad":"{"y" * 40}"}}\n' for i in range(10))
            server.s3.put_object(Bucket="athena-data", Key=f"projected/year={year}/region={region}/part.json", Body=lines.encode())
    succeeded(server, """CREATE EXTERNAL TABLE projected (n int, pad string) PARTITIONED BY (year int, region string)
        ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://athena-data/projected/'
        TBLPROPERTIES ('projection.enabled'='true', 'projection.year.type'='integer', 'projection.year.range'='2023,2030',
                       'projection.region.type'='enum', 'projection.region.values'='eu,us')""", database="it")
    everything, all_of_it = succeeded(server, "SELECT count(*), min(year) FROM projected", database="it")
    # 2022 and asia are outside the projection.
    assert rows_of(server, everything)[0][1] == ["40", "2023"]
    one, just_one = succeeded(server, "SELECT count(*) FROM projected WHERE year = 2024 AND region = 'eu'", database="it")
    assert rows_of(server, one)[0][1] == ["10"]
    assert 0 < just_one["Statistics"]["DataScannedInBytes"] <= all_of_it["Statistics"]["DataScannedInBytes"] / 4
    # A storage template and dates with slashes, as ALB and CloudTrail logs are laid out.
    for day in ("2024/11/29", "2024/11/30", "2019/01/01"):
        server.s3.put_object(Bucket="athena-data", Key=f"alb/web-1/{day}/log.csv", Body=b"GET,200\nPOST,500\n")
    succeeded(server, """CREATE EXTERNAL TABLE alb (method string, status int) PARTITIONED BY (day string, host string)
        ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://athena-data/alb/'
        TBLPROPERTIES ('projection.enabled'='true', 'projection.day.type'='date', 'projection.day.format'='yyyy/MM/dd',
                       'projection.day.range'='2024/01/01,NOW', 'projection.host.type'='injected',
                       'storage.location.template'='s3://athena-data/alb/${host}/${day}/')""", database="it")
    query_id, _ = succeeded(server, "SELECT day, host, count(*) FROM alb WHERE host = 'web-1' GROUP BY day, host ORDER BY day", database="it")
    assert rows_of(server, query_id)[0][1:] == [["2024/11/29", "web-1", "2"], ["2024/11/30", "web-1", "2"]]
    query_id, _ = succeeded(server, "SELECT count(*) FROM alb WHERE host IN ('web-2', 'web-3')", database="it")
    assert rows_of(server, query_id)[0][1:] == [["0"]]
    # An injected key's values come from the query, as in Athena: a query without one fails.
    for unbounded in ("SELECT count(*) FROM alb", "SELECT count(*) FROM alb WHERE host LIKE 'web%'"):
        _, execution = run_query(server, unbounded, database="it")
        assert execution["Status"]["State"] == "FAILED" and execution["Status"]["AthenaError"]["ErrorCategory"] == 2
        assert execution["Status"]["AthenaError"]["ErrorMessage"] == (
            "CONSTRAINT_VIOLATION: For the injected projected partition column host, the WHERE clause must contain only static equality "
            "conditions, and at least one such condition must be present.")
    # A key without its projection fails as Athena's does.
    succeeded(server, """CREATE EXTERNAL TABLE broken (n int) PARTITIONED BY (year int) LOCATION 's3://athena-data/projected/'
        TBLPROPERTIES ('projection.enabled'='true')""", database="it")
    _, execution = run_query(server, "SELECT * FROM broken", database="it")
    assert execution["Status"]["State"] == "FAILED"
    assert "missing projection configuration: [year]" in execution["Status"]["AthenaError"]["ErrorMessage"]


def test_failures_are_reported_as_athena_reports_them(server, orders):
    _, execution = run_query(server, "SELECT customer FRUM it.orders")
    assert execution["Status"]["State"] == "FAILED"
    error = execution["Status"]["AthenaError"]
    assert error["ErrorCategory"] == 2 and error["ErrorType"] == 1000
    assert error["ErrorMessage"].startswith("line 1:22: mismatched input 'it'"), error
    _, execution = run_query(server, "SELECT missing_column FROM it.orders")
    assert execution["Status"]["AthenaError"]["ErrorMessage"] == "COLUMN_NOT_FOUND: line 1:8: Column 'missing_column' cannot be resolved"
    _, execution = run_query(server, "SELECT * FROM it.missing")
    assert execution["Status"]["AthenaError"]["ErrorMessage"].startswith("TABLE_NOT_FOUND: ")
    _, execution = run_query(server, "SELECT CAST(customer AS integer) FROM it.orders")
    assert "INVALID_CAST_ARGUMENT: Cannot cast 'alice' to INTEGER" in execution["Status"]["AthenaError"]["ErrorMessage"]
    _, execution = run_query(server, "CREATE DATABASE it")
    assert execution["StatementType"] == "DDL" and execution["Status"]["AthenaError"]["ErrorType"] == 1003
    failed_id, _ = run_query(server, "SELECT * FROM it.missing")
    with pytest.raises(ClientError) as refused:
        server.athena.get_query_results(QueryExecutionId=failed_id)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as refused:
        server.athena.start_query_execution(QueryString="SELECT 1")
    assert refused.value.response["Error"]["Message"].startswith("No output location provided.")
    with pytest.raises(ClientError) as refused:
        server.athena.start_query_execution(QueryString="SELECT 1", WorkGroup="nope", ResultConfiguration={"OutputLocation": RESULTS})
    assert refused.value.response["Error"]["Message"] == "WorkGroup nope is not found."
    with pytest.raises(ClientError) as refused:
        server.athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="it", TableName="missing")
    assert refused.value.response["Error"]["Code"] == "MetadataException"


def test_the_same_client_request_token_answers_the_same_execution(server, orders):
    token = str(uuid.uuid4())
    first, _ = run_query(server, "SELECT 1", ClientRequestToken=token)
    again, _ = run_query(server, "SELECT 1", ClientRequestToken=token)
    assert first == again
    batch = server.athena.batch_get_query_execution(QueryExecutionIds=[first, "00000000-0000-0000-0000-000000000000"])
    assert [e["QueryExecutionId"] for e in batch["QueryExecutions"]] == [first]
    assert batch["UnprocessedQueryExecutionIds"][0]["ErrorCode"] == "INVALID_INPUT"


def test_execution_parameters_are_bound(server, orders):
    query_id, _ = succeeded(server, "SELECT id FROM it.orders WHERE customer = ? AND amount > ?", ExecutionParameters=["'bob'", "15"])
    assert rows_of(server, query_id)[0] == [["id"], ["2"]]


def test_prepared_statements_from_the_api_and_from_sql(server, orders):
    athena = server.athena
    athena.create_prepared_statement(StatementName="by_customer", WorkGroup="primary", Description="one customer's orders",
                                     QueryStatement="SELECT id FROM it.orders WHERE customer = ? ORDER BY id")
    got = athena.get_prepared_statement(StatementName="by_customer", WorkGroup="primary")["PreparedStatement"]
    assert got["QueryStatement"].startswith("SELECT id") and got["WorkGroupName"] == "primary" and got["LastModifiedTime"]
    # EXECUTE with USING, and with the execution's parameters.
    query_id, execution = succeeded(server, "EXECUTE by_customer USING 'bob'")
    assert rows_of(server, query_id)[0] == [["id"], ["2"]]
    assert execution["StatementType"] == "DML" and execution["SubstatementType"] == "EXECUTE"
    query_id, _ = succeeded(server, "EXECUTE by_customer", ExecutionParameters=["'alice'"])
    assert rows_of(server, query_id)[0] == [["id"], ["1"]]
    # PREPARE in SQL replaces; DEALLOCATE PREPARE deletes.
    _, execution = succeeded(server, "PREPARE by_customer FROM SELECT count(*) AS n FROM it.orders WHERE amount > ?")
    assert execution["StatementType"] == "UTILITY" and execution["SubstatementType"] == "PREPARE"
    query_id, _ = succeeded(server, "EXECUTE by_customer USING 12")
    assert rows_of(server, query_id)[0] == [["n"], ["1"]]
    athena.update_prepared_statement(StatementName="by_customer", WorkGroup="primary", QueryStatement="SELECT 1 AS one")
    succeeded(server, "PREPARE other FROM SELECT 2")
    listed = athena.list_prepared_statements(WorkGroup="primary")["PreparedStatements"]
    assert [s["StatementName"] for s in listed] == ["by_customer", "other"]
    batch = athena.batch_get_prepared_statement(WorkGroup="primary", PreparedStatementNames=["other", "missing"])
    assert [s["StatementName"] for s in batch["PreparedStatements"]] == ["other"]
    assert batch["UnprocessedPreparedStatementNames"] == [
        {"StatementName": "missing", "ErrorCode": "STATEMENT_NOT_FOUND", "ErrorMessage": "Prepared statement missing was not found."}]
    succeeded(server, "DEALLOCATE PREPARE other")
    athena.delete_prepared_statement(StatementName="by_customer", WorkGroup="primary")
    assert athena.list_prepared_statements(WorkGroup="primary")["PreparedStatements"] == []
    # Refusals and failures.
    with pytest.raises(ClientError) as refused:
        athena.get_prepared_statement(StatementName="by_customer", WorkGroup="primary")
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    athena.create_prepared_statement(StatementName="twice", WorkGroup="primary", QueryStatement="SELECT 1")
    with pytest.raises(ClientError) as refused:
        athena.create_prepared_statement(StatementName="twice", WorkGroup="primary", QueryStatement="SELECT 1")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    _, execution = run_query(server, "EXECUTE nowhere USING 1")
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["AthenaError"]["ErrorMessage"] == "line 1:1: Prepared statement not found: nowhere"
    _, execution = run_query(server, "EXECUTE twice USING 1, 2")
    assert execution["Status"]["AthenaError"]["ErrorMessage"].endswith("Incorrect number of parameters: expected 0 but found 2")
    _, execution = run_query(server, "PREPARE ddl FROM DROP TABLE it.orders")
    assert execution["Status"]["AthenaError"]["ErrorMessage"] == "line 1:1: Invalid statement type for prepared statement: DROP_TABLE"
    athena.delete_prepared_statement(StatementName="twice", WorkGroup="primary")


def test_stop_query_execution_ends_a_running_scan(server):
    numbers = "".join(f"{i}\n" for i in range(2000))
    server.s3.put_object(Bucket="athena-data", Key="numbers/n.txt", Body=numbers.encode())
    succeeded(server, "CREATE EXTERNAL TABLE numbers (n bigint) LOCATION 's3://athena-data/numbers/'", database="it")
    # Eight billion combinations each, far longer than the test waits: as many as run at once (4).
    long = [run_query(server, "SELECT count(*) FROM numbers a, numbers b, numbers c", database="it", wait=False)[0] for _ in range(4)]
    deadline = time.time() + 30
    while any(server.athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Status"]["State"] != "RUNNING" for q in long):
        assert time.time() < deadline
        time.sleep(0.05)
    for query_id in long:
        server.athena.stop_query_execution(QueryExecutionId=query_id)
        assert server.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "CANCELLED"
    # The scans really stop: their slots are free again, so the next query runs (were they still
    # scanning, it would wait QUEUED until they ended, long after this test's wait).
    next_id, execution = succeeded(server, "SELECT count(*) FROM numbers", database="it")
    assert rows_of(server, next_id)[0][1] == ["2000"]
    assert execution["Statistics"]["QueryQueueTimeInMillis"] < 30_000


def test_ddl_and_the_catalog_api_agree(server, orders):
    listed, _ = succeeded(server, "SHOW TABLES IN it")
    assert ["orders"] in rows_of(server, listed)[0]
    described, _ = succeeded(server, "DESCRIBE it.orders")
    assert [row[0].split("\t")[0].strip() for row in rows_of(server, described)[0]] == ["id", "customer", "amount", "placed"]
    created, _ = succeeded(server, "SHOW CREATE TABLE it.orders")
    assert rows_of(server, created)[0][0] == ["CREATE EXTERNAL TABLE `it`.`orders`("]
    databases = server.athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]
    assert {"default", "it"} <= {d["Name"] for d in databases}
    table = server.athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="it", TableName="orders")["TableMetadata"]
    assert [(c["Name"], c["Type"]) for c in table["Columns"]] == [("id", "bigint"), ("customer", "string"), ("amount", "double"),
                                                                 ("placed", "timestamp")]
    assert table["Parameters"]["location"] == "s3://athena-data/orders/" and table["TableType"] == "EXTERNAL_TABLE"
    names = [t["Name"] for t in server.athena.list_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="it", Expression="ord*")["TableMetadataList"]]
    assert names == ["orders"]
    succeeded(server, "CREATE DATABASE scratch")
    succeeded(server, "CREATE EXTERNAL TABLE scratch.t (a string) LOCATION 's3://athena-data/scratch/'")
    _, refused = run_query(server, "DROP DATABASE scratch")
    assert "is not empty" in refused["Status"]["AthenaError"]["ErrorMessage"]
    succeeded(server, "DROP DATABASE scratch CASCADE")
    assert "scratch" not in {d["Name"] for d in server.athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]}


def test_the_catalog_and_executions_survive_a_restart(tmp_path):
    server = Ecsd(str(tmp_path / "restart")).start()
    try:
        athena = boto3.client("athena", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        s3.create_bucket(Bucket="athena-results")
        s3.put_object(Bucket="athena-results", Key="t/a.csv", Body=b"1,x\n2,y\n")
        holder = type("Server", (), {"athena": athena})
        succeeded(holder, "CREATE EXTERNAL TABLE kept (n int, s string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://athena-results/t/'")
        first, _ = succeeded(holder, "SELECT sum(n) FROM kept")
        server.kill9()
        server.start()
        athena = boto3.client("athena", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        holder = type("Server", (), {"athena": athena})
        assert athena.get_query_execution(QueryExecutionId=first)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
        assert rows_of(holder, first)[0] == [["_col0"], ["3"]]
        again, _ = succeeded(holder, "SELECT s FROM kept WHERE n = 2")
        assert rows_of(holder, again)[0] == [["s"], ["y"]]
    finally:
        server.stop()


def wait_for(server, query_id):
    deadline = time.time() + 60
    while time.time() < deadline:
        execution = server.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not finish")


def test_work_groups_give_the_output_location_and_cancel_a_query_past_their_cutoff(server, orders):
    athena = server.athena
    athena.create_work_group(Name="capped", Description="ten megabytes a query", Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://athena-results/capped/"}, "EnforceWorkGroupConfiguration": True,
        "BytesScannedCutoffPerQuery": 10_000_000})
    group = athena.get_work_group(WorkGroup="capped")["WorkGroup"]
    assert group["State"] == "ENABLED" and group["Configuration"]["BytesScannedCutoffPerQuery"] == 10_000_000
    assert {"primary", "capped"} <= {g["Name"] for g in athena.list_work_groups()["WorkGroups"]}
    # 12 MB of lines: more than the work group lets one query read.
    server.s3.put_object(Bucket="athena-data", Key="big/lines.txt", Body=(("x" * 99 + "\n") * 120_000).encode())
    succeeded(server, "CREATE EXTERNAL TABLE big (line string) LOCATION 's3://athena-data/big/'", database="it")
    # No output location asked for: the work group's is used.
    small = athena.start_query_execution(QueryString="SELECT count(*) FROM it.orders", WorkGroup="capped")["QueryExecutionId"]
    execution = wait_for(server, small)
    assert execution["Status"]["State"] == "SUCCEEDED" and execution["WorkGroup"] == "capped"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://athena-results/capped/{small}.csv"
    large = athena.start_query_execution(QueryString="SELECT count(*) FROM it.big", WorkGroup="capped",
                                         ResultConfiguration={"OutputLocation": RESULTS})["QueryExecutionId"]
    execution = wait_for(server, large)
    assert execution["Status"]["State"] == "CANCELLED", execution["Status"]
    assert execution["Status"]["StateChangeReason"] == "Query cancelled! : Bytes scanned limit was exceeded"
    # Enforced: the work group's location, not the one asked for.
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://athena-results/capped/")
    assert large in athena.list_query_executions(WorkGroup="capped")["QueryExecutionIds"]
    assert large not in athena.list_query_executions()["QueryExecutionIds"]
    unchecked = boto3.client("athena", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=server.key[0],
                             aws_secret_access_key=server.key[1], config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        unchecked.create_work_group(Name="tiny", Configuration={"BytesScannedCutoffPerQuery": 1000})
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as refused:
        athena.create_work_group(Name="capped")
    assert refused.value.response["Error"]["Message"] == "WorkGroup is already created"

    saved = athena.create_named_query(Name="count orders", Database="it", QueryString="SELECT count(*) FROM orders", WorkGroup="capped")["NamedQueryId"]
    assert athena.get_named_query(NamedQueryId=saved)["NamedQuery"]["QueryString"] == "SELECT count(*) FROM orders"
    assert athena.list_named_queries(WorkGroup="capped")["NamedQueryIds"] == [saved]
    batch = athena.batch_get_named_query(NamedQueryIds=[saved, "missing"])
    assert [q["Name"] for q in batch["NamedQueries"]] == ["count orders"] and batch["UnprocessedNamedQueryIds"][0]["NamedQueryId"] == "missing"
    athena.update_work_group(WorkGroup="capped", State="DISABLED")
    with pytest.raises(ClientError) as refused:
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup="capped")
    assert refused.value.response["Error"]["Message"] == "WorkGroup capped is disabled."
    with pytest.raises(ClientError) as refused:
        athena.delete_work_group(WorkGroup="capped")
    assert "not empty" in refused.value.response["Error"]["Message"]
    athena.delete_work_group(WorkGroup="capped", RecursiveDeleteOption=True)
    with pytest.raises(ClientError):
        athena.get_named_query(NamedQueryId=saved)
    with pytest.raises(ClientError) as refused:
        athena.delete_work_group(WorkGroup="primary")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"


def test_the_stevedore_database_reads_the_cluster_records_as_they_are(server):
    ecs = server.client("ecs")
    ecs.create_cluster(clusterName="queried")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "busybox", "memory": 64, "essential": True}])
    ecs.create_service(cluster="queried", serviceName="web", taskDefinition="web", desiredCount=2)
    listed, _ = succeeded(server, "SHOW TABLES IN stevedore")
    assert [row[0] for row in rows_of(server, listed)[0]] == [
        "container_instances", "functions", "gateway_access_logs", "invocations", "log_events", "scaling_activities", "service_events",
        "services", "task_state_changes", "tasks"]
    query_id, _ = succeeded(server, "SELECT service_name, cluster, desired_count, status FROM stevedore.services WHERE cluster = 'queried'")
    assert rows_of(server, query_id)[0] == [["service_name", "cluster", "desired_count", "status"], ["web", "queried", "2", "ACTIVE"]]
    # Always current: a change shows in the next query.
    ecs.update_service(cluster="queried", service="web", desiredCount=5)
    query_id, _ = succeeded(server, "SELECT desired_count FROM stevedore.services WHERE service_name = 'web'")
    assert rows_of(server, query_id)[0][1] == ["5"]
    query_id, _ = succeeded(server, "SELECT count(*) FROM stevedore.service_events WHERE service_name = 'web'")
    assert int(rows_of(server, query_id)[0][1][0]) >= 0
    _, refused = run_query(server, "DROP TABLE stevedore.tasks")
    assert refused["Status"]["State"] == "FAILED" and "cannot be changed" in refused["Status"]["AthenaError"]["ErrorMessage"]
    tables = server.athena.list_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="stevedore")["TableMetadataList"]
    assert "task_arn" in [c["Name"] for c in next(t for t in tables if t["Name"] == "tasks")["Columns"]]


def test_the_stevedore_database_reads_log_events_invocations_and_scaling_activities(server):
    """`log_events` has every CloudWatch Logs event; `invocations` reads functions' REPORT lines (put here
    with `PutLogEvents` as a runtime writes them; test_functions_runtime has real ones), taking a
    handled error from the runtime's `[ERROR]` line; `scaling_activities` has Application Auto Scaling's."""
    logs = server.client("logs")
    group, stream = "/aws/lambda/reported", "2026/12/02/[7]0f1e2d3c"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    lines = [
        "START RequestId: r1 Version: 7", "init done", "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 150.25 ms\t",
        "START RequestId: r2 Version: 7", "[ERROR] ValueError: boom\rTraceback (most recent call last):", "END RequestId: r2",
        "REPORT RequestId: r2\tDuration: 3.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\t",
        "START RequestId: r3 Version: 7", "END RequestId: r3",
        "REPORT RequestId: r3\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\tStatus: error\tError Type: Sandbox.Timedout\t",
    ]
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])
    query_id, _ = succeeded(server, "SELECT request_id, version, duration_ms, billed_duration_ms, max_memory_used_mb, init_duration_ms, cold_start, "
                                    "error_type, log_stream FROM stevedore.invocations WHERE function_name = 'reported' ORDER BY ended_at")
    rows, result = rows_of(server, query_id)
    assert rows[1:] == [
        ["r1", "7", "12.5", "13", "40", "150.25", "true", None, stream],
        ["r2", "7", "3.0", "3", "41", None, "false", "ValueError", stream],
        ["r3", "7", "1000.0", "1000", "41", None, "false", "Sandbox.Timedout", stream],
    ]
    types = [c["Type"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert types[:8] == ["varchar", "varchar", "double", "bigint", "integer", "double", "boolean", "varchar"]
    # The README's example.
    query_id, _ = succeeded(server, "SELECT function_name, approx_percentile(duration_ms, 0.99), count_if(cold_start) FROM stevedore.invocations GROUP BY 1")
    assert rows_of(server, query_id)[0][1:] == [["reported", "1000.0", "1"]]
    # A comparison's value is a boolean, as Athena gives it.
    query_id, _ = succeeded(server, "SELECT request_id, duration_ms > 10 AS slow FROM stevedore.invocations WHERE function_name = 'reported' ORDER BY 1")
    rows, result = rows_of(server, query_id)
    assert rows[1:] == [["r1", "true"], ["r2", "false"], ["r3", "true"]]
    assert [c["Type"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["varchar", "boolean"]
    query_id, _ = succeeded(server, f"SELECT count(*), count_if(message LIKE 'START%'), min(event_time) FROM stevedore.log_events WHERE log_group = '{group}'")
    count, starts, first = rows_of(server, query_id)[0][1]
    assert (count, starts) == (str(len(lines)), "3") and first.startswith(time.strftime("%Y-", time.gmtime()))
    # Always current: an event put now is in the next query.
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now + 100, "message": "late line"}])
    query_id, _ = succeeded(server, f"SELECT log_stream FROM stevedore.log_events WHERE message = 'late line'")
    assert rows_of(server, query_id)[0][1:] == [[stream]]

    # A scheduled action that falls due in a moment: its activity is a row.
    ecs, aas = server.client("ecs"), server.client("application-autoscaling")
    ecs.create_cluster(clusterName="scaled")
    ecs.register_task_definition(family="idle", containerDefinitions=[{"name": "idle", "image": "busybox", "memory": 32, "essential": True}])
    ecs.create_service(cluster="scaled", serviceName="idle", taskDefinition="idle", desiredCount=0)
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/scaled/idle", ScalableDimension="ecs:service:DesiredCount",
                                 MinCapacity=0, MaxCapacity=4)
    due = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 2))
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="now", ResourceId="service/scaled/idle",
                             ScalableDimension="ecs:service:DesiredCount", Schedule=f"at({due})", ScalableTargetAction={"MinCapacity": 2})

    def activities():
        query_id, _ = succeeded(server, "SELECT resource_id, status_code, cause FROM stevedore.scaling_activities WHERE resource_id = 'service/scaled/idle'")
        return rows_of(server, query_id)[0][1:] or None

    [[resource, status, cause]] = wait_until(activities, timeout=30, message="the scheduled action's activity")
    described = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId="service/scaled/idle")["ScalingActivities"]
    assert (resource, status, cause) == ("service/scaled/idle", described[0]["StatusCode"], described[0]["Cause"])


def test_ecsctl_query_prints_a_table_csv_or_json(server, orders):
    env = {**os.environ, "ECS_ENDPOINT": server.endpoint, "AWS_SHARED_CREDENTIALS_FILE": server.credentials_file}
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)

    def ecsctl(*args):
        from conftest import BIN
        return subprocess.run([os.path.join(BIN, "ecsctl"), *args], capture_output=True, text=True, timeout=60, env=env)

    table = ecsctl("query", "--database", "it", "SELECT customer, amount FROM orders ORDER BY id")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines() == ["CUSTOMER  AMOUNT", "alice     10.5", "bob       20.0", "carol     NULL"]
    assert "3 rows" in table.stderr
    as_csv = ecsctl("query", "--output", "csv", "SELECT customer, amount FROM it.orders WHERE id = 3")
    assert as_csv.stdout == '"customer","amount"\n"carol",\n'
    as_json = ecsctl("query", "--output", "json", "SELECT count(*) AS n FROM it.orders")
    document = __import__("json").loads(as_json.stdout)
    assert document["columns"] == [{"name": "n", "type": "bigint"}] and document["rows"] == [["3"]]
    # ecsctl's own results bucket, made on first use.
    assert server.s3.head_bucket(Bucket="ecsctl-query-results")
    failed = ecsctl("query", "SELECT * FROM it.nope")
    assert failed.returncode == 1 and "query FAILED: TABLE_NOT_FOUND" in failed.stderr
    ddl = ecsctl("query", "SHOW TABLES IN it")
    assert "orders" in ddl.stdout.split()


def test_tables_made_with_glue_are_queried_in_athena_and_the_other_way_round(server, orders):
    glue = server.client("glue")
    glue.create_database(DatabaseInput={"Name": "Sales", "Description": "made with Glue", "Parameters": {"team": "web"}})
    database = glue.get_database(Name="sales")["Database"]
    assert (database["Name"], database["Description"], database["Parameters"], database["CatalogId"]) == ("sales", "made with Glue", {"team": "web"}, "000000000000")
    with pytest.raises(ClientError) as caught:
        glue.create_database(DatabaseInput={"Name": "sales"})
    assert (caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]) == ("AlreadyExistsException", "Database already exists.")

    for region, rows in [("eu", "1,10\n2,20\n"), ("us", "3,30\n"), ("ap", "4,40\n")]:
        server.s3.put_object(Bucket="athena-data", Key=f"glue-sales/region={region}/part.csv", Body=rows.encode())
    glue.create_table(DatabaseName="sales", TableInput={
        "Name": "Orders", "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "csv"},
        "PartitionKeys": [{"Name": "region", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": "Id", "Type": "bigint"}, {"Name": "amount", "Type": "int"}],
            "Location": "s3://athena-data/glue-sales/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "Parameters": {"field.delim": ","}}}})
    created = glue.batch_create_partition(DatabaseName="sales", TableName="orders", PartitionInputList=[
        {"Values": [region], "StorageDescriptor": {"Location": f"s3://athena-data/glue-sales/region={region}/"}} for region in ["eu", "us", "ap"]
    ] + [{"Values": ["eu"]}, {"Values": ["x", "y"]}])
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in created["Errors"]] == [
        (["eu"], "AlreadyExistsException"), (["x", "y"], "InvalidInputException")]
    partitions = glue.get_partitions(DatabaseName="sales", TableName="orders", Expression="region IN ('eu', 'us') AND NOT region = 'us'")["Partitions"]
    assert [p["Values"] for p in partitions] == [["eu"]]
    with pytest.raises(ClientError) as caught:
        glue.get_partitions(DatabaseName="sales", TableName="orders", Expression="country = 'fr'")
    assert caught.value.response["Error"]["Message"] == "Invalid partition expression!"

    # Athena reads what Glue made: columns lower-cased, partitions pruned.
    query_id, execution = succeeded(server, "SELECT region, sum(amount) FROM orders WHERE region <> 'ap' GROUP BY region ORDER BY region", database="sales")
    assert rows_of(server, query_id)[0][1:] == [["eu", "30"], ["us", "30"]]
    glue.batch_delete_partition(DatabaseName="sales", TableName="orders", PartitionsToDelete=[{"Values": ["us"]}])
    query_id, _ = succeeded(server, "SELECT count(*) FROM sales.orders")
    assert rows_of(server, query_id)[0][1:] == [["3"]]

    # Glue reads what Athena's DDL made.
    table = glue.get_table(DatabaseName="it", Name="orders")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"), ("customer", "string"), ("amount", "double"), ("placed", "timestamp")]
    assert table["StorageDescriptor"]["Location"] == "s3://athena-data/orders/" and table["TableType"] == "EXTERNAL_TABLE"
    assert table["StorageDescriptor"]["SerdeInfo"]["Parameters"]["field.delim"] == ","
    assert table["Parameters"]["skip.header.line.count"] == "1"
    assert "orders" in [t["Name"] for t in glue.get_tables(DatabaseName="it", Expression="ord*")["TableList"]]

    # Errors as Glue words them, and a database deleted with its tables.
    for call, expected in [
        (lambda: glue.get_table(DatabaseName="sales", Name="nope"), ("EntityNotFoundException", "Table nope not found.")),
        (lambda: glue.get_table(DatabaseName="nope", Name="orders"), ("EntityNotFoundException", "Database nope not found.")),
        (lambda: glue.get_partition(DatabaseName="sales", TableName="orders", PartitionValues=["us"]), ("EntityNotFoundException", "Cannot find partition.")),
        (lambda: glue.delete_table(DatabaseName="stevedore", Name="tasks"), ("InvalidInputException", None)),
    ]:
        with pytest.raises(ClientError) as caught:
            call()
        error = caught.value.response["Error"]
        assert error["Code"] == expected[0] and (expected[1] is None or error["Message"] == expected[1]), error
    glue.delete_database(Name="sales")
    assert "sales" not in [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    _, refused = run_query(server, "SELECT * FROM sales.orders")
    assert refused["Status"]["State"] == "FAILED"

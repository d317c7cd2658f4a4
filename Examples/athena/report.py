"""The same tables through PyAthena (pip install pyathena), unchanged: run after run.sh.

AWS_ENDPOINT_URL points PyAthena's boto3 at ecsd; results go to s3://example-results/pyathena/."""
import os

from pyathena import connect

cursor = connect(
    s3_staging_dir="s3://example-results/pyathena/",
    region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    schema_name="shop",
).cursor()

# A parameter as PyAthena binds it, and a join of the two tables.
cursor.execute(
    """
    SELECT o.customer, o.amount, l.status, l.latency_ms
    FROM orders o
    JOIN access_logs l ON l.path = '/orders/' || CAST(o.order_id AS varchar)
    WHERE l.month = %(month)s
    ORDER BY o.order_id
    """,
    {"month": "02"},
)
print([column[0] for column in cursor.description])
for row in cursor.fetchall():
    print(row)
print(f"scanned {cursor.data_scanned_in_bytes} bytes")

CREATE EXTERNAL TABLE IF NOT EXISTS shop.access_logs (
  request_id string,
  `time` string,
  method string,
  path string,
  status int,
  latency_ms double
)
PARTITIONED BY (year string, month string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://example-data/access-logs/'
TBLPROPERTIES ('compressionType'='gzip');

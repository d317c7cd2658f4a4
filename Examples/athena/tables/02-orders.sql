CREATE EXTERNAL TABLE IF NOT EXISTS shop.orders (
  order_id bigint,
  customer string,
  amount double,
  ordered_at timestamp
)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
LOCATION 's3://example-data/orders/'
TBLPROPERTIES ('skip.header.line.count'='1');

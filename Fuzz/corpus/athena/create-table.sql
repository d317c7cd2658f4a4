CREATE EXTERNAL TABLE IF NOT EXISTS sales.orders (
  id bigint COMMENT 'order id',
  customer string,
  amount decimal(10,2),
  tags array<struct<k:string,v:int>>
)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
LOCATION 's3://data/orders/'
TBLPROPERTIES ('skip.header.line.count'='1');

MSCK REPAIR TABLE shop.access_logs;

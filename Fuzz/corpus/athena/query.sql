WITH t AS (SELECT customer, TRY_CAST(amount AS double) a, row_number() OVER (PARTITION BY customer ORDER BY dt DESC) r FROM "sales".orders WHERE dt = ? AND ts >= TIMESTAMP '2024-05-01 00:00:00')
SELECT customer, sum(a), date_trunc('day', from_iso8601_timestamp('2024-05-01T10:00:00Z')) FROM t WHERE r <= 3 GROUP BY 1 ORDER BY 2 DESC, customer LIMIT 10 -- tail

"""Writes testdata/delta/user_visits: a Delta table with type widening, as Spark 4.0 with delta-spark
4.0 writes it, and testdata/delta/user_visits.expected.json: its rows as Spark reads them.

    python testdata/tools/make_type_widening.py OUT_DIR EXPECTED_JSON DELTA_JARS   (PySpark 4.0)

`delta.enableTypeWidening=true`; `visits` written as INT (ts=1), widened to BIGINT by
ALTER TABLE ... ALTER COLUMN visits TYPE BIGINT, then rows beyond the INT range written (ts=2).
"""
import json
import sys

from pyspark.sql import SparkSession

out, expected, jars = sys.argv[1], sys.argv[2], sys.argv[3]
spark = (SparkSession.builder.master("local[1]").appName("onfs-type-widening")
         .config("spark.jars", jars)
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         .config("spark.sql.shuffle.partitions", "1")
         .config("spark.ui.enabled", "false")
         .getOrCreate())
spark.sql(f"CREATE TABLE delta.`{out}` (user_id STRING, visits INT, ts BIGINT) USING delta "
          "PARTITIONED BY (ts) TBLPROPERTIES ('delta.enableTypeWidening' = 'true')")
spark.sql(f"INSERT INTO delta.`{out}` VALUES " +
          ", ".join(f"('user_{i:03d}', {None if i % 4 == 0 else i * 1000}, 1)".replace("None", "NULL")
                    for i in range(12)))
spark.sql(f"ALTER TABLE delta.`{out}` ALTER COLUMN visits TYPE BIGINT")
spark.sql(f"INSERT INTO delta.`{out}` VALUES " +
          ", ".join(f"('user_{i:03d}', {None if i % 5 == 0 else 3_000_000_000 + i}, 2)".replace("None", "NULL")
                    for i in range(12)))
rows = spark.read.format("delta").load(out).orderBy("ts", "user_id").collect()
schema = {f.name: f.dataType.simpleString() for f in spark.read.format("delta").load(out).schema.fields}
with open(expected, "w") as f:
    json.dump({"schema": schema, "rows": [r.asDict() for r in rows]}, f, indent=1)
    f.write("\n")
spark.stop()

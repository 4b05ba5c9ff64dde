"""Deploy: ship the dags folder to an MWAA bucket, then ask MWAA what it made of it.

bundle (what to ship, in which order) -> plan (diff against the bucket by content)
-> sync (apply the plan in an order that never breaks parsing). Beside it: mwaa
(status via the MWAA API) and requirements (requirements.txt for the environment).

Nothing here is imported by the loader: Airflow never needs boto3 for the factory.
"""

"""Run a multi-statement SQL script inside a revision.

asyncpg's prepared statements take one command; its simple-query protocol
(execute without arguments) takes a whole script, dollar-quoted bodies included.
"""

from alembic import op
from sqlalchemy.util import await_only


def run_sql_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.dbapi_connection.driver_connection
    await_only(driver_connection.execute(sql))

"""In-house Flask extensions: each a class with ``init_app`` that keeps its state in
``app.extensions``. The instances below hold no app and connect to nothing at import time."""

from flask_limiter import Limiter
from flask_wtf import CSRFProtect

from .database import db, migrate
from .json_logging import JsonLogging
from .metrics import Metrics
from .redis_client import RedisClient
from .rate_limits import client_ip_key
from .sessions import RedisSessions

redis_client = RedisClient()
json_logging = JsonLogging()
metrics = Metrics()
sessions = RedisSessions()
csrf = CSRFProtect()
limiter = Limiter(client_ip_key)

__all__ = ["csrf", "db", "limiter", "json_logging", "metrics", "migrate", "redis_client", "sessions"]

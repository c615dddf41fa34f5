"""Where the fleet keeps its state: Redis (clients, hash snapshots, Lua scripts, key names),
PostgreSQL (pool, migrations, batched writes) and the kombu work-arounds."""

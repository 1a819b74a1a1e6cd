-- One of the emulation's settings (entry_token, emulated_aurora_version,
-- sync_timeout_seconds) by name (%s).
SELECT value FROM aurora_emulation.settings WHERE name = %s;

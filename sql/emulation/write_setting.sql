-- Change one of the emulation's settings: the value (%s), then its name (%s).
UPDATE aurora_emulation.settings SET value = %s WHERE name = %s;

-- The id of the latest recorded call (0 before any): where a count of later calls starts.
SELECT COALESCE(MAX(id), 0) FROM aurora_emulation.invocations;

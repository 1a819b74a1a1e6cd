-- The server's version string (MariaDB's contains "MariaDB").
SELECT VERSION();

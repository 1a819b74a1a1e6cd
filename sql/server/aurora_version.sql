-- Aurora MySQL's version (3.05.2, 2.11.2). Any other server has no such variable and
-- answers error 1193: that is how Aurora is told apart.
SELECT @@aurora_version;

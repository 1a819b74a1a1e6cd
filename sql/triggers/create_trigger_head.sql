-- The head of a trigger kept as the server stored it (lambda_trigger.InstalledText: a
-- trigger changed by hand, restored by a downgrade); its body, as stored, follows it
-- (a compound body holds ';' and is no single value: it is not put into this file).
-- ${timing} is BEFORE or AFTER, ${event} INSERT, UPDATE or DELETE.
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} ${timing} ${event} ON ${table}
FOR EACH ROW

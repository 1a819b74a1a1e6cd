"""Lambda functions: one folder each, plus ``common`` which is packaged with every one."""

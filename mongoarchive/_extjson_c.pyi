# The compiled Extended JSON converter (mongoarchive/_extjson_c.c); mongoarchive/_extjson.py calls it.
from mongoarchive._hot import Buffer

def lines(buf: Buffer, pos: int, canonical: bool, /) -> tuple[bytes, int, int]: ...

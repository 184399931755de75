"""python-binary-memcached (module bmemcached) against a server speaking the binary protocol.

Usage: binary_bmemcached.py HOST PORT [USER PASSWORD]
Without credentials: get/set/cas/incr/decr/multi-get/delete over the binary protocol.
With credentials (server started with SASL on): the same after a SASL PLAIN login, then a
wrong password must be refused, and a client without credentials must read nothing.
Exits non-zero with a message on the first mismatch.
"""
import sys

import bmemcached
from bmemcached.exceptions import InvalidCredentials, MemcachedException


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def exercise(c):
    check(c.set("greeting", "hello"), "set")
    check(c.get("greeting") == "hello", "get")
    value, cas = c.gets("greeting")
    check(value == "hello" and cas, "gets returns a cas")
    check(c.cas("greeting", "hi", cas), "cas with the current cas stores")
    check(not c.cas("greeting", "stale", cas), "cas with a stale cas is refused")
    check(c.get("greeting") == "hi", "value after cas")
    check(c.set("n", 10), "set counter")
    check(c.incr("n", 5) == 15, "incr")
    check(c.decr("n", 20) == 0, "decr floors at 0")
    check(c.incr("fresh", 1, default=7) == 7, "incr creates with the initial value")
    check(c.set_multi({"a": "1", "b": "2", "c": "3"}) is not False, "set_multi")
    got = c.get_multi(["a", "b", "c", "missing"])
    check(got == {"a": "1", "b": "2", "c": "3"}, "get_multi returns hits only: %r" % (got,))
    check(c.delete("a"), "delete")
    check(c.get("a") is None, "deleted key misses")
    check(c.add("a", "x"), "add absent key")
    check(not c.add("a", "y"), "add present key refused")
    check(c.replace("a", "z"), "replace present key")
    check(c.get("a") == "z", "value after replace")


def main():
    host, port = sys.argv[1], sys.argv[2]
    server = "%s:%s" % (host, port)
    if len(sys.argv) == 3:
        exercise(bmemcached.Client((server,)))
        return
    user, password = sys.argv[3], sys.argv[4]
    exercise(bmemcached.Client((server,), user, password))
    wrong = bmemcached.Client((server,), user, password + "x")
    try:
        wrong.get("greeting")
        refused = False
    except InvalidCredentials:
        refused = True
    except MemcachedException as e:
        # bmemcached expects 0x08 for an auth error; memcached (and larder) send 0x20.
        refused = "Code: 32 " in str(e)
    check(refused, "a wrong password is refused with status 0x20")
    anonymous = bmemcached.Client((server,))
    try:
        read = anonymous.get("greeting")
    except Exception as e:  # any refusal will do; a value must not come back
        read = None
        print("anonymous get raised", type(e).__name__)
    check(read is None, "no value is readable without credentials")
    try:
        stored = anonymous.set("intruder", "x")
    except Exception:
        stored = False
    check(not stored, "nothing is stored without credentials")
    check(bmemcached.Client((server,), user, password).get("intruder") is None,
          "the anonymous set left nothing behind")


if __name__ == "__main__":
    main()

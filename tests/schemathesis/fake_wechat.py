#!/usr/bin/env python3
"""A stand-in for WeChat's API during the schemathesis run, on a loopback port.

Usage: fake_wechat.py PORT_FILE — listens on a free 127.0.0.1 port and writes it to PORT_FILE.

The server runs in development mode, where `dev:` codes never reach WeChat; the fuzzer's other
codes do, and WeChat would refuse them as invalid (errcode 40029). That is what this answers,
so those cases end in the documented 400 instead of a timeout.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WeChat(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path == "/cgi-bin/stable_token":
            reply = {"access_token": "FAKE-TOKEN", "expires_in": 7200}
        elif path == "/wxa/msg_sec_check":
            reply = {"errcode": 0, "errmsg": "ok", "result": {"suggest": "pass", "label": 100}}
        elif path in ("/sns/jscode2session", "/wxa/business/getuserphonenumber"):
            reply = {"errcode": 40029, "errmsg": "invalid code"}
        else:
            reply = {"errcode": 0, "errmsg": "ok"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), WeChat)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()

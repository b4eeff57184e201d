#!/usr/bin/env python3
"""vectors_xcheck.py - re-derive tests/vectors.txt from the byte-level description in
docs/PROTOCOL.md with an independent implementation (pyca/cryptography).
Skips (exit 77) when the module is missing."""
import os, sys
try:
    import cryptography  # noqa: F401
except ImportError:
    print("python3-cryptography not installed: skipped"); sys.exit(77)
import hashlib, hmac, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def raw(priv):
    return priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


V = {}
cur = None
for line in open(os.path.join(os.environ.get('top_srcdir', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')), 'tests', 'vectors.txt')):
    if line.startswith('#'): continue
    if line[0] in ' \t': V[cur] += line.strip(); continue
    k, v = line.split(' = '); cur = k; V[k] = v.strip()
B = lambda k: bytes.fromhex(V[k])
def kdf(th, shared, label):
    return HKDF(hashes.SHA256(), 32, th, label.encode()).derive(shared)
th = bytes(range(32)); sh = bytes(range(0x20, 0x40))
for n, l in [('c2b','c2b'),('b2c','b2c'),('confirm','confirm'),('kms_resp','kms resp'),('k_e2e','k_e2e')]:
    assert kdf(th, sh, 'mqe2e-v1 ' + l) == B('kdf.' + n), n
a = X25519PrivateKey.from_private_bytes(b'\x55'*32); b = X25519PrivateKey.from_private_bytes(b'\x77'*32)
assert a.exchange(b.public_key()) == B('x25519.shared')
v16 = lambda s: struct.pack('>H', len(s)) + s
topic = b'plant/1/temp'
# envelope (version 2: flags after seq; 0x01 = published retained)
hdr = bytes([2, 0x50, 4, 1]) + v16(b'plant1') + struct.pack('>I', 7) + v16(b'alice') + struct.pack('>Q', 0x0001020304050607) + bytes([1]) + bytes(range(12))
ct = AESGCM(b'\x11'*32).encrypt(bytes(range(12)), b'21.5 C', b'mqe2e-v1 e2e' + v16(topic) + hdr)
env = hdr + struct.pack('>I', len(ct)) + ct
assert env == B('envelope')
# mac frame
h = bytes([1, 0x20, 3]) + v16(b'') + struct.pack('>I', 0) + v16(b'alice') + struct.pack('>Q', 1) + struct.pack('>I', len(env))
tag = hmac.new(b'\x22'*32, b'mqe2e-v1 chan' + v16(topic) + h + env, hashlib.sha256).digest()[:16]
assert h + env + tag == B('frame_mac')
# aead frame
n = bytes(range(12, 24))
h = bytes([1, 0x21, 1]) + v16(b'plant1') + struct.pack('>I', 7) + v16(b'broker1') + struct.pack('>Q', 2) + n + struct.pack('>I', len(env) + 16)
ct = AESGCM(b'\x33'*32).encrypt(n, env, b'mqe2e-v1 chan' + v16(topic) + h)
assert h + ct == B('frame_aead')
# bundle
assert bytes([1, 0x30]) + struct.pack('>H', 2) + v16(b'bob') + struct.pack('>I', 1) + b'B' + v16(b'carol') + struct.pack('>I', 2) + b'CC' == B('bundle')
# keybundle
now = 1767225600000
# header, the group table sorted by name (group, scheme, rights, filter),
# then the keys (group, kind, epoch, not_before, not_after, key)
g = lambda name, scheme, rights, filt: v16(name) + bytes([scheme, rights]) + v16(filt)
e = lambda kind, k: v16(b'plant1') + bytes([kind]) + struct.pack('>IQQ', 7, now, now + 86400000) + k
# (version 2: a flags byte after the type; 0 = no more groups follow)
assert (bytes([2, 0x12, 0]) + struct.pack('>H', 2) + g(b'alarms', 1, 2, b'alarm/+/#') +
        g(b'plant1', 4, 3, b'plant/#') + struct.pack('>H', 2) + e(1, b'\x44'*32) +
        e(2, b'\x45'*32)) == B('keybundle')
# CONNECT hello
alice_der = B('pki.alice_der'); broker_der = B('pki.broker_der')
# (version 2: names the broker it is for)
hello = bytes([2, 1]) + v16(b'alice') + v16(alice_der) + raw(a) + struct.pack('>Q', now) + b'\x66'*16 + v16(b'broker1')
ak = Ed25519PrivateKey.from_private_bytes(b'\xa1'*32)
hello += ak.sign(b'mqe2e-v1 sig connect hello' + hello)
assert hello == B('connect.hello')
# CONNACK reply
hh = hashlib.sha256(hello).digest()
pre = bytes([1, 2]) + v16(broker_der) + raw(b) + struct.pack('>Q', now + 250) + b'\x88'*16
bk = Ed25519PrivateKey.from_private_bytes(b'\xc1'*32)
sig = bk.sign(b'mqe2e-v1 sig connack reply' + hh + pre)
tr = hashlib.sha256(hh + pre).digest()
shared = b.exchange(a.public_key())
conf = hmac.new(kdf(tr, shared, 'mqe2e-v1 confirm'), tr, hashlib.sha256).digest()
assert pre + sig + conf == B('connect.reply')
assert kdf(tr, shared, 'mqe2e-v1 c2b') == B('connect.c2b')
assert kdf(tr, shared, 'mqe2e-v1 b2c') == B('connect.b2c')
# KEY_REQUEST / KEY_RESPONSE
ka = X25519PrivateKey.from_private_bytes(b'\x99'*32)
# (version 2: each group with an epoch, 0 = its window; then the paging cursor, empty)
req = bytes([2, 0x10]) + v16(b'alice') + v16(alice_der) + raw(ka) + struct.pack('>Q', now) + b'\x9a'*16 + struct.pack('>H', 1) + v16(b'plant1') + struct.pack('>I', 0) + v16(b'')
req += ak.sign(b'mqe2e-v1 sig key request' + req)
assert req == B('keyreq')
kb = X25519PrivateKey.from_private_bytes(b'\x9b'*32)
rh = hashlib.sha256(req).digest()
pre = bytes([1, 0x11]) + raw(kb) + struct.pack('>Q', now) + b'\x9c'*16
cak = Ed25519PrivateKey.from_private_bytes(b'\xca'*32)
sig = cak.sign(b'mqe2e-v1 sig key response' + rh + pre)
kresp = kdf(hashlib.sha256(rh + pre).digest(), kb.exchange(ka.public_key()), 'mqe2e-v1 kms resp')
pt = bytes([2, 0x12, 0]) + struct.pack('>H', 1) + g(b'plant1', 4, 1, b'plant/#') + struct.pack('>H', 1) + e(1, b'\x44'*32)
aad = pre + sig + b'\x9d'*12 + struct.pack('>I', len(pt) + 16)
assert aad + AESGCM(kresp).encrypt(b'\x9d'*12, pt, aad) == B('keyresp')
# PAIR_REQUEST / PAIR_RESPONSE
bob_der = B('pki.bob_der')
pa = X25519PrivateKey.from_private_bytes(b'\xaa'*32)
preq = bytes([1, 0x40]) + v16(b'alice') + v16(alice_der) + raw(pa) + struct.pack('>Q', now) + b'\xab'*16 + v16(b'bob') + v16(b'plant1') + struct.pack('>I', 1)
preq += ak.sign(b'mqe2e-v1 sig pair request' + preq)
assert preq == B('pair.request')
pb = X25519PrivateKey.from_private_bytes(b'\xac'*32)
prh = hashlib.sha256(preq).digest()
pre = bytes([1, 0x41]) + v16(b'bob') + v16(bob_der) + raw(pb) + struct.pack('>Q', now + 100) + b'\xad'*16 + v16(b'alice') + v16(b'plant1') + struct.pack('>I', 1) + prh
bobk = Ed25519PrivateKey.from_private_bytes(b'\xb1'*32)
assert pre + bobk.sign(b'mqe2e-v1 sig pair response' + prh + pre) == B('pair.response')
k_e2e = kdf(hashlib.sha256(prh + pre).digest(), pb.exchange(pa.public_key()), 'mqe2e-v1 k_e2e')
assert k_e2e == B('pair.k_e2e')
# an envelope under K_E2E: key name "PUB|SUB|GROUP", epoch = generation
hdr = bytes([2, 0x50, 1, 2]) + v16(b'alice|bob|plant1') + struct.pack('>I', 1) + v16(b'alice') + struct.pack('>Q', 1) + bytes([0]) + bytes(range(0x18, 0x24))
ct = AESGCM(k_e2e).encrypt(bytes(range(0x18, 0x24)), b'21.5 C', b'mqe2e-v1 e2e' + v16(topic) + hdr)
assert hdr + struct.pack('>I', len(ct)) + ct == B('pair.envelope')
print("all vectors re-derived independently")

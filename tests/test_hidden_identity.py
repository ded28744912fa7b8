"""No private identity under data/ in any disguise: every re-saving Identity.load accepts is refused."""

from __future__ import annotations

import json

import pytest

from helpers import FAST_SCRYPT, PASSPHRASE, pledge_through, run_cli
from pledgebox import audit, config, sealing, serve, web
from pledgebox.sealing import identity as identity_file

CODECS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
BOMS = {
    "utf-8": b"\xef\xbb\xbf",
    "utf-16-le": b"\xff\xfe",
    "utf-16-be": b"\xfe\xff",
    "utf-32-le": b"\xff\xfe\x00\x00",
    "utf-32-be": b"\x00\x00\xfe\xff",
}


def _sorted_like_jq(doc: dict) -> str:
    """What `jq -S .` writes: sorted keys, two-space indent, a final newline."""
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"


def _escaped_key(doc: dict) -> str:
    """The header's key written with a JSON escape: the same key to the parser, other bytes on disk."""
    return json.dumps(doc).replace('"pledgebox-identity"', '"\\u0070ledgebox-identity"')


# name -> how the identity's JSON text is re-saved (text, then bytes).
TEXTS = {
    "as saved": lambda doc: json.dumps(doc) + "\n",
    "sorted keys (jq -S)": _sorted_like_jq,
    "sorted, compact": lambda doc: json.dumps(doc, sort_keys=True, separators=(",", ":")),
    "header last": lambda doc: json.dumps(dict(reversed(list(doc.items())))),
    "far-off header (100 newlines first)": lambda doc: "\n" * 100 + json.dumps(doc),
    "CRLF and tabs": lambda doc: json.dumps(doc, indent="\t").replace("\n", "\r\n"),
    "escaped key": _escaped_key,
}
VARIANTS = {
    f"{name}, {codec}{', BOM' if bom else ''}": (text, codec, bom)
    for name, text in TEXTS.items()
    for codec in CODECS
    for bom in (False, True)
}


def encoded(doc: dict, variant: str) -> bytes:
    text, codec, bom = VARIANTS[variant]
    return (BOMS[codec] if bom else b"") + text(doc).encode(codec)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, identities):
    """A real identity file's document and the identity it holds."""
    path = tmp_path_factory.mktemp("id") / "organiser.identity"
    identities[0].save(path, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    return json.loads(path.read_bytes()), identities[0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_loads_and_is_refused_by_every_server_and_audit(variant, saved, cfg, capsys, monkeypatch):
    doc, identity = saved
    path = cfg.data_dir / "state-backup" / "organiser.json"
    path.parent.mkdir()
    path.write_bytes(encoded(doc, variant))
    # The same parser: the disguised copy is a working identity...
    assert sealing.Identity.load(path, PASSPHRASE).recipient == identity.recipient
    # ...so it is found, and any WSGI server (build_app) refuses to run...
    assert sealing.find_identities(cfg.data_dir) == [path]
    with pytest.raises(web.PrivateKeyInData):
        web.build_app(config.load(cfg.data_dir))
    # ...and so does `serve`, before it listens.
    monkeypatch.setattr(serve, "run", lambda *a, **kw: pytest.fail("serve ran with a private identity in data/"))
    code, out, err = run_cli(capsys, "serve", "--data", cfg.data_dir)
    assert code != 0 and "private organiser identity" in err and str(path) in err
    assert "private-identity" in {f.kind for f in audit.scan(cfg.data_dir).findings}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("where", ["notes", "far inside"])
def test_the_marker_in_any_encoding_is_refused_even_where_it_would_not_load(codec, where, saved, cfg):
    doc, _ = saved
    text = json.dumps(doc)
    if where == "notes":
        content = f"my keys, keep safe!\n{text}\nsee you\n".encode(codec)
    else:  # past the first chunk the scanner reads, straddling its boundary
        content = b" " * (identity_file._SCAN_CHUNK + identity_file._IDENTITY_MAX_BYTES - 7) + text.encode(codec)
    path = cfg.data_dir / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(sealing.NotAnIdentity):
        sealing.Identity.load(path, PASSPHRASE)
    assert sealing.find_identities(cfg.data_dir) == [path]
    with pytest.raises(web.PrivateKeyInData):
        web.build_app(config.load(cfg.data_dir))


def test_what_a_server_keeps_is_not_mistaken_for_an_identity(cfg, identity, client, clock):
    # A donor may type the marker: it is sealed, so it is nowhere in the store's bytes.
    assert pledge_through(client, clock, message='"pledgebox-identity"').status_int == 200
    (cfg.data_dir / "public.txt").write_text(identity.recipient.to_string())
    (cfg.data_dir / "other.json").write_text(json.dumps({"pledgebox": "identity", "kdf": "scrypt"}))
    (cfg.data_dir / "deep.json").write_text("[" * 30_000 + "]" * 30_000)  # too deep for the parser
    assert sealing.find_identities(cfg.data_dir) == []
    web.build_app(config.load(cfg.data_dir))
    with pytest.raises(sealing.NotAnIdentity):
        sealing.Identity.load(cfg.data_dir / "deep.json", PASSPHRASE)

"""What the issuer's and the registry's commands share to keep their signing keys in a
PKCS#11 token (an HSM): the options of `init`, and the user PIN, read the way the wallet
reads it (`ancre.wallet.identities.pkcs11_pin`): a file (`--pin-file`, or the service's
`…_PKCS11_PIN_FILE` variable for `serve`), else `ANCRE_PKCS11_PIN`, else the file
`ANCRE_PKCS11_PIN_FILE` names, else a prompt on a terminal. Never on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "ModuleOption",
    "PinFileOption",
    "Pkcs11Option",
    "TokenLabelOption",
    "pin_source",
]

Pkcs11Option = Annotated[
    Path | None,
    typer.Option(
        "--pkcs11",
        metavar="MODULE",
        help="Keep the signing key in a PKCS#11 token (an HSM): the module's path, e.g. "
        "/usr/lib/softhsm/libsofthsm2.so. The private key is made in the token and never "
        "leaves it; no keys.ancre, no passphrase.",
    ),
]
TokenLabelOption = Annotated[str | None, typer.Option(help="--pkcs11: the token's label.")]
PinFileOption = Annotated[
    Path | None,
    typer.Option(
        "--pin-file",
        help="--pkcs11: a file holding the token's user PIN (else $ANCRE_PKCS11_PIN, "
        "$ANCRE_PKCS11_PIN_FILE or a prompt).",
    ),
]
#: `serve`: where the token's module is on this machine, when not where `init` found it.
ModuleOption = Annotated[
    Path | None,
    typer.Option(
        "--pkcs11-module",
        help="The PKCS#11 module's path on this machine, instead of the one init recorded "
        "(a container image).",
    ),
]


def pin_source(token_label: str, module: str, pin_file: Path | None) -> Callable[[], str]:
    """Where the PIN of `token_label` comes from, read once on first use (not now: a
    command that signs nothing asks for nothing)."""
    from ancre.trust.keys.pkcs11 import Pkcs11Ref
    from ancre.wallet.identities import pkcs11_pin

    ref = Pkcs11Ref(module, token_label, "-")
    path = str(pin_file) if pin_file is not None else None
    return lambda: pkcs11_pin(ref, path)

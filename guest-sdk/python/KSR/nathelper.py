"""`KSR.nathelper`: phones behind NAT."""

from wit_world.imports import nathelper as _nathelper

from ._call import call


def nat_uac_test(flags):
    """True when one of the tests in `flags` says the sender is behind NAT (Kamailio's
    bits: 1 private Contact, 2 Via host is not the source, 16 source port is not the Via
    port ...; the default config tests 19)."""
    return _nathelper.nat_uac_test(flags)


def fix_nated_contact():
    """Rewrite the Contact's host and port to the source address."""
    call("nathelper", _nathelper.fix_nated_contact)
    return 1


def fix_nated_register():
    """Save the source address as the REGISTER's received (the binding's path back)."""
    call("nathelper", _nathelper.fix_nated_register)
    return 1


def add_contact_alias():
    """Add ``;alias=IP~PORT~PROTO`` of the source to the Contact when it differs: 1 when
    added, -1 when not needed."""
    return 1 if call("nathelper", _nathelper.add_contact_alias) else -1


def set_contact_alias(trim=0):
    """Add the source's alias to the Contact, always (`trim`: remove an old one first)."""
    call("nathelper", _nathelper.set_contact_alias, bool(trim))
    return 1


def handle_ruri_alias():
    """Send to the Request-URI's alias and remove it: 1 when it had one, -1 when not."""
    return 1 if call("nathelper", _nathelper.handle_ruri_alias) else -1


def add_rport():
    """Add ``rport`` to the top Via (answers go to the source port)."""
    _nathelper.add_rport()
    return 1

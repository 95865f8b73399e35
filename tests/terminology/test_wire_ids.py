"""The savoir-faire OID has one name (TRE_R01, as the DMP spec and the kit's VIHF examples say) and FR Core's
TRE_R38 URI is an input alias of it; the lab interpretation table is package data."""

from __future__ import annotations

from facade.model import oids
from facade.terminology.catalogue import Catalogue
from facade.terminology.uri_mapper import nos_uri, oid_to_uri, uri_to_oid


def test_savoir_faire_codes_map_to_the_tre_r01_oid_from_either_uri() -> None:
    r38 = nos_uri("TRE_R38-SpecialiteOrdinale")
    r01 = nos_uri("TRE_R01-EnsembleSavoirFaire")
    assert uri_to_oid(r38) == uri_to_oid(r01) == oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE == "1.2.250.1.71.4.2.5"
    assert oid_to_uri(oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE) == r38  # what FR Core clients send back to us


def test_interpretations_are_read_from_the_data_table() -> None:
    table = Catalogue.load().interpretations
    assert len(table) == 39 and table["N"] == "Normal" and table["AA"] == "Très anormal, alerte"
    assert all(code and display for code, display in table.items())

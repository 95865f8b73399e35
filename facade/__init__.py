"""DMP facade: FHIR R4 bundles in, CI-SIS CDA R2 + IHE XDS.b ITI-41 (VIHF, XAdES, MTOM, mutual TLS) out."""

__version__ = "0.1.0"

"""TD3.1: ``GET [base]/DocumentReference?patient.identifier=…&status=…`` -> ITI-18 -> a ``searchset`` Bundle.

Order: the parameters (``search_params``), the rights matrix before anything is sent (FindDocuments = TD3.1a,
GetDocuments by ``identifier`` = TD3.1b, the only one open to a plain structure certificate), the stored query with
its own VIHF, then the answer: signature entries dropped (they are the submission's XAdES, not documents), one
entry per logical document (its highest metadata version), newest first, reconciled into the facade's own registry
(the DMP is the truth for what it holds), one page.

Paging re-runs the query with an offset (``_offset`` in the next link) rather than keeping the result server-side
behind a page token: ITI-18 has no paging, so either way the DMP answers the whole list; re-running keeps the
facade stateless (no patient data held between requests, any instance of a cluster answers any page, a restart
loses nothing), re-checks the rights and re-signs a VIHF for every page, and shows the DMP's current state. The
price: a document added or removed between two pages shifts the window (the order is stable: creationTime, then
entryUUID), and each page costs one ITI-18.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from facade.dmp.client import DmpClient
from facade.dmp.document_reference import attachment_url, to_document_reference
from facade.dmp.registry_entry import RegistryEntry
from facade.dmp.rights import Transaction, require
from facade.dmp.search_params import DocumentSearch
from facade.dmp.stored_query import DELETED, build_get_documents, find_documents, run_query
from facade.outbox.registry import Availability
from facade.outbox.store import Outbox
from facade.outcomes import operation_outcome
from facade.xds.codes import AvailabilityStatus

_AVAILABILITY = {
    AvailabilityStatus.APPROVED.value: Availability.APPROVED,
    AvailabilityStatus.ARCHIVED.value: Availability.ARCHIVED,
    AvailabilityStatus.DEPRECATED.value: Availability.DEPRECATED,
    DELETED: Availability.DELETED,
}


@dataclass(frozen=True)
class SearchPage:
    search: DocumentSearch
    entries: list[RegistryEntry]  # this page
    total: int  # matches over every page


def _version(entry: RegistryEntry) -> int:
    return int(entry.version) if entry.version.isdigit() else 0


def latest_per_document(entries: Sequence[RegistryEntry]) -> list[RegistryEntry]:
    """One entry per logicalId: the highest metadata version (older versions are history, not documents)."""
    best: dict[str, RegistryEntry] = {}
    for entry in entries:
        key = entry.logical_id or entry.entry_uuid
        if key not in best or _version(entry) > _version(best[key]):
            best[key] = entry
    return list(best.values())


def ordered(entries: Sequence[RegistryEntry]) -> list[RegistryEntry]:
    """Newest first by creationTime (XDS DTM strings compare as numbers once padded), then entryUUID: stable."""
    by_uuid = sorted(entries, key=lambda e: e.entry_uuid)
    return sorted(by_uuid, key=lambda e: (e.creation_time + "0" * 14)[:14], reverse=True)


class DocumentSearchService:
    """The DMP's documents of one patient, as FHIR (no web framework here: the route calls ``search``)."""

    def __init__(self, *, client: DmpClient, outbox: Outbox | None, auth_mode: str, granted: Sequence[str]) -> None:
        self.client = client
        self.outbox = outbox
        self.auth_mode = auth_mode
        self.granted = tuple(granted)

    def search(self, search: DocumentSearch) -> SearchPage:
        transaction = Transaction.TD3_1B if search.by_identifier else Transaction.TD3_1A
        require(self.auth_mode, transaction, self.granted)  # 403 before anything is sent
        if search.by_identifier:
            found = latest_per_document(self._get_documents(search))
            if search.status_filter:
                found = [e for e in found if e.status in search.status_filter]
        else:
            found = latest_per_document(find_documents(self.client, search.patient_ins_cx, search.criteria))
        documents = ordered([e for e in found if not e.is_signature])
        page = documents[search.offset : search.offset + search.count] if search.count else []
        self.reconcile(page)  # what the client is shown; one write per document (bounded by _count)
        return SearchPage(search, page, len(documents))

    def _get_documents(self, search: DocumentSearch) -> list[RegistryEntry]:
        """GetDocuments by uniqueId; by entryUUID, then by the uniqueIds found, so that a logicalId (the identifier
        the search answers, = the first version's entryUUID) leads to the document's current version."""
        unique_ids = list(search.unique_ids)
        if search.entry_uuids:
            named = run_query(self.client, search.patient_ins_cx, build_get_documents(entry_uuids=search.entry_uuids))
            unique_ids = sorted({e.unique_id for e in named if e.unique_id})
        if not unique_ids:
            return []
        return run_query(self.client, search.patient_ins_cx, build_get_documents(unique_ids))

    def reconcile(self, entries: Sequence[RegistryEntry]) -> int:
        """The facade's registry follows what the DMP holds (availability, confidentiality) for the documents it
        sent; documents it never sent are not added (0 rows). Returns the rows changed."""
        if self.outbox is None:
            return 0
        changed = 0
        for entry in entries:
            availability = _AVAILABILITY.get(entry.status)
            if availability is None:
                continue
            confidentiality = [[c.system, c.code, c.display] for c in entry.confidentiality]
            changed += self.outbox.reconcile_document(
                entry.unique_id, availability=availability, confidentiality=confidentiality
            )
        return changed


# ------------------------------------------------------------------------------------------------ the Bundle


def _link(base_url: str, search: DocumentSearch, offset: int) -> str:
    params = [*search.echoed, ("_offset", str(offset))] if offset else list(search.echoed)
    if not any(n == "_count" for n, _ in params):
        params.append(("_count", str(search.count)))
    return f"{base_url}/DocumentReference?{urlencode(params, safe=':|,')}"


def searchset_bundle(page: SearchPage, base_url: str) -> dict[str, Any]:
    """The ``searchset``: ``total``, self / first / previous / next links, one match entry per DocumentReference
    (``fullUrl`` = ``[base]/DocumentReference/<id>``), and the warnings (ignored parameters) as an outcome entry."""
    search = page.search
    links = [{"relation": "self", "url": _link(base_url, search, search.offset)}]
    if search.offset:
        links.append({"relation": "first", "url": _link(base_url, search, 0)})
        links.append({"relation": "previous", "url": _link(base_url, search, max(search.offset - search.count, 0))})
    if search.count and search.offset + search.count < page.total:
        links.append({"relation": "next", "url": _link(base_url, search, search.offset + search.count)})
    entries: list[dict[str, Any]] = []
    for entry in page.entries:
        url = attachment_url(base_url, entry.unique_id, search.ins, search.ins_oid)
        resource = to_document_reference(entry, attachment=url)
        entries.append(
            {
                "fullUrl": f"{base_url}/DocumentReference/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    if search.warnings:
        entries.append({"resource": operation_outcome(list(search.warnings)), "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links, "entry": entries}


__all__ = ["DocumentSearchService", "SearchPage", "latest_per_document", "ordered", "searchset_bundle"]

"""The official HubSpot Python SDK against hookproof's mock CRM.

Only the host changes: HubSpot(access_token=TOKEN, host=CRM_URL).
Usage: hubspot_sdk_test.py CRM_URL TOKEN
"""
import sys
import uuid

from hubspot import HubSpot
from hubspot.crm.contacts import (
    SimplePublicObjectInputForCreate as ContactCreate,
    SimplePublicObjectInput as ContactUpdate,
    PublicObjectSearchRequest as ContactSearch,
)
from hubspot.crm.contacts.exceptions import ApiException as ContactApiException
from hubspot.crm.tickets import (
    SimplePublicObjectInputForCreate as TicketCreate,
    SimplePublicObjectInput as TicketUpdate,
    PublicObjectSearchRequest as TicketSearch,
)
from hubspot.crm.objects.notes import (
    SimplePublicObjectInputForCreate as NoteCreate,
    SimplePublicObjectInput as NoteUpdate,
    PublicObjectSearchRequest as NoteSearch,
)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main(url, token):
    client = HubSpot(access_token=token, host=url)
    suffix = uuid.uuid4().hex[:8]
    email = f"ada.{suffix}@customer.example"

    # Contacts
    contact = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=ContactCreate(
            properties={"email": email, "firstname": "Ada", "lastname": "Lovelace"}
        )
    )
    check(contact.id and contact.properties["email"] == email, "contacts.basic_api.create")
    got = client.crm.contacts.basic_api.get_by_id(contact_id=contact.id, properties=["email", "firstname"])
    check(got.properties["firstname"] == "Ada", "contacts.basic_api.get_by_id")
    by_email = client.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email")
    check(by_email.id == contact.id, "contacts.basic_api.get_by_id with id_property=email")
    updated = client.crm.contacts.basic_api.update(
        contact_id=contact.id, simple_public_object_input=ContactUpdate(properties={"lastname": "King"})
    )
    check(updated.properties["lastname"] == "King", "contacts.basic_api.update")
    found = client.crm.contacts.search_api.do_search(
        public_object_search_request=ContactSearch(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
            properties=["email", "lastname"],
            limit=10,
        )
    )
    check(found.total == 1 and found.results[0].id == contact.id, "contacts.search_api.do_search")
    try:
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=ContactCreate(properties={"email": email})
        )
        check(False, "a second contact with the same email is refused")
    except ContactApiException as e:
        check(e.status == 409, "a second contact with the same email is refused with 409")

    # Tickets
    ticket = client.crm.tickets.basic_api.create(
        simple_public_object_input_for_create=TicketCreate(
            properties={
                "subject": "Cannot login",
                "content": "since this morning",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "1",
                "hs_ticket_priority": "HIGH",
                "helpdesk_ticket_id": f"7{suffix}",
            },
            associations=[{"to": {"id": contact.id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 16}]}],
        )
    )
    check(ticket.id and ticket.properties["subject"] == "Cannot login", "tickets.basic_api.create")
    got = client.crm.tickets.basic_api.get_by_id(ticket_id=ticket.id)
    check(got.properties["hs_pipeline_stage"] == "1", "tickets.basic_api.get_by_id")
    updated = client.crm.tickets.basic_api.update(
        ticket_id=ticket.id, simple_public_object_input=TicketUpdate(properties={"hs_pipeline_stage": "4"})
    )
    check(updated.properties["hs_pipeline_stage"] == "4", "tickets.basic_api.update")
    found = client.crm.tickets.search_api.do_search(
        public_object_search_request=TicketSearch(
            filter_groups=[{"filters": [{"propertyName": "helpdesk_ticket_id", "operator": "EQ", "value": f"7{suffix}"}]}],
            limit=5,
        )
    )
    check(found.total == 1 and found.results[0].id == ticket.id, "tickets.search_api.do_search")

    # Notes (crm.objects.notes in SDK v12), associated to the ticket
    note = client.crm.objects.notes.basic_api.create(
        simple_public_object_input_for_create=NoteCreate(
            properties={"hs_note_body": "Customer called back", "hs_timestamp": "2025-01-08T10:12:07.000Z", "helpdesk_comment_id": f"9{suffix}"},
            associations=[{"to": {"id": ticket.id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}],
        )
    )
    check(note.id and note.properties["hs_note_body"] == "Customer called back", "notes.basic_api.create")
    got = client.crm.objects.notes.basic_api.get_by_id(note_id=note.id, properties=["hs_note_body"])
    check(got.properties["hs_note_body"] == "Customer called back", "notes.basic_api.get_by_id")
    updated = client.crm.objects.notes.basic_api.update(
        note_id=note.id, simple_public_object_input=NoteUpdate(properties={"hs_note_body": "Called back twice"})
    )
    check(updated.properties["hs_note_body"] == "Called back twice", "notes.basic_api.update")
    found = client.crm.objects.notes.search_api.do_search(
        public_object_search_request=NoteSearch(
            filter_groups=[{"filters": [{"propertyName": "helpdesk_comment_id", "operator": "EQ", "value": f"9{suffix}"}]}],
        )
    )
    check(found.total == 1 and found.results[0].id == note.id, "notes.search_api.do_search")
    print("all SDK calls passed")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: hubspot_sdk_test.py CRM_URL TOKEN")
    main(sys.argv[1], sys.argv[2])

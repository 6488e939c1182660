//! Mock CRM (HubSpot CRM v3 subset).

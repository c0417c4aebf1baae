"""Names for the simulated world: fictional providers, customers and bad actors.

All fictional on purpose: a simulated bad actor must never share a name with a real company
(the real ones named in the Commission's notices are not reused here).
"""

from __future__ import annotations

US_NAMES = (
    ("bluewave", "Bluewave Voice LLC"),
    ("cloudline", "Cloudline Communications Inc."),
    ("prairie", "Prairie VoIP Co."),
    ("harborcom", "Harbor Telecom LLC"),
    ("summitpbx", "Summit Cloud PBX Inc."),
    ("redrock", "Redrock Networks LLC"),
    ("lakeside", "Lakeside Digital Voice"),
    ("piedmont", "Piedmont Telephone Co."),
    ("evercall", "Evercall Inc."),
    ("northbeam", "Northbeam Communications"),
)
ACCESS_NAMES = (
    ("telco-a", "Atlas Mobile"),
    ("telco-b", "Beacon Wireless"),
    ("telco-c", "Cascade Telephone"),
    ("telco-d", "Delta Cable Voice"),
    ("telco-e", "Empire Fiber Phone"),
    ("telco-f", "Frontier Valley Telco"),
    ("telco-g", "Granite State Wireless"),
    ("telco-h", "Horizon Rural Telephone"),
)
FOREIGN_NAMES = (
    ("mumbai-vox", "Mumbai Vox Telecom Pvt Ltd", "IN"),
    ("manila-link", "Manila Link Communications Inc.", "PH"),
    ("thames-voip", "Thames VoIP Ltd", "GB"),
    ("karachi-tel", "Karachi Teleservices (Pvt) Ltd", "PK"),
    ("santo-net", "Santo Net SRL", "DO"),
    ("lagos-call", "Lagos Callways Ltd", "NG"),
    ("dhaka-wave", "Dhaka Wave Ltd", "BD"),
)
GATEWAY_NAMES = (
    ("atlantic-gw", "Atlantic Gateway Inc."),
    ("pacific-ix", "Pacific International Exchange LLC"),
    ("meridian-gw", "Meridian Global Carrier LLC"),
    ("keystone-intl", "Keystone International Voice"),
)
INTERMEDIATE_NAMES = (
    ("transitnet", "TransitNet Inc."),
    ("routewise", "Routewise Carrier Services"),
    ("ironbridge", "Ironbridge Telecom LLC"),
    ("switchpoint", "Switchpoint Networks"),
    ("corelink", "Corelink Wholesale"),
    ("longhaul", "Longhaul Voice Exchange"),
    ("bigriver", "Big River Carrier Co."),
    ("tandem-one", "Tandem One LLC"),
    ("apex-transit", "Apex Transit Voice"),
)
ENTERPRISES = (
    "Midtown Dental Group",
    "Riverside Auto Repair",
    "Oakridge Property Management",
    "Sunrise Bakery Supply",
    "Clearwater Law Offices",
    "Pioneer Insurance Agency",
    "Greenfield Veterinary Clinic",
    "Metro Plumbing & Heating",
    "Hillside Realty",
    "Northgate Logistics",
    "Lakeshore Accounting",
    "Brightpath Staffing",
    "Cedar Grove Medical",
    "Union Hardware",
    "Westside Florists",
    "Harbor Freight Brokers",
)
CALL_CENTERS = (
    "Consented Energy Renewals Inc.",
    "Alumni Giving Calls LLC",
    "Patient Follow-up Services",
    "Customer Care Partners",
    "Subscription Retention Co.",
    "Survey Research Group",
)
INFORMATIONAL = (
    ("Pharmacy Refill Reminders", "PHARMACY"),
    ("County School District Notices", "SCHOOL DIST"),
    ("Dental Appointment Reminders", "DENTAL OFFICE"),
    ("Power Outage Alerts", "CITY UTILITY"),
    ("Airline Flight Status Calls", "FLIGHT INFO"),
)
RESELLERS_US = ("Vertex Wholesale Voice", "Primeroute Telecom", "Cheapcall Termination LLC")
RESELLERS_FOREIGN = (
    ("Globex Routing Ltd", "GB"),
    ("Sapphire IT Services Pvt Ltd", "IN"),
    ("Orion Voice Solutions", "PH"),
    ("Nimbus Telecom FZE", "AE"),
)
BAD_ACTORS = (
    "Quick Benefits Marketing",
    "Star Outreach Solutions",
    "Dialmax Leads",
    "Apex Lead Generation",
    "Secure Help Desk Services",
    "Nova Callers",
)


def numbered(table: tuple[tuple[str, ...], ...], n: int, suffix: str) -> list[tuple[str, ...]]:
    """The first ``n`` rows of ``table``, and numbered copies once it runs out (a world with
    more providers of a kind than there are names: ``bluewave-10``, "... East 10")."""
    out = list(table[: min(n, len(table))])
    for k in range(len(out), n):
        base = table[k % len(table)]
        out.append((f"{base[0]}-{k}", f"{base[1]} {suffix} {k}", *base[2:]))
    return out


def slug(text: str) -> str:
    """'Clearwater Law Offices' -> 'clearwater-law-offices' (trunk names of a switch)."""
    drop = {"llc", "inc", "ltd", "co", "pvt", "fze", "&"}
    words = ["".join(ch for ch in w if ch.isalnum()) for w in text.lower().split()]
    return "-".join([w for w in words if w and w not in drop][:3])

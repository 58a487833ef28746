"""What the quote tests share: a company's details and a customer with a Turkish name and
billing address (not a test module)."""

COMPANY = {
    "name": "Demo Yazılım A.Ş.",
    "address": "Büyükdere Cad. No: 185\nLevent, 34394 İstanbul",
    "phone": "+90 212 555 01 00",
    "email": "satis@demo.example",
    "tax_office": "Boğaziçi Kurumlar",
    "tax_number": "1234567890",
}
TURKISH_CUSTOMER = {
    "first_name": "Çağrı",
    "last_name": "Işık",
    "primary_email": "cagri@isik.example",
    "address": "Atatürk Bulvarı 12/3",
    "city": "Ankara",
    "country": "TR",
    "tax_office": "Çankaya",
    "tax_number": "9876543210",
}

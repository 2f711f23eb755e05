from __future__ import annotations

from django.urls import path

from inbox.records import views

app_name = "records"

urlpatterns = [
    path("audit/", views.audit_trail, name="audit"),
    path("audit/csv/", views.audit_trail_csv, name="audit_csv"),
    path("exports/", views.exports, name="exports"),
    path("exports/<uuid:uuid>/", views.export_detail, name="export"),
    path("exports/<uuid:uuid>/download/", views.export_file, name="export_download"),
    path("people/", views.people, name="people"),
    path("people/<int:pk>/", views.person_detail, name="person"),
    path("people/<int:pk>/export/", views.person_dsar, name="person_dsar"),
    path("people/<int:pk>/hold/", views.person_hold, name="person_hold"),
    path("people/<int:pk>/remove/", views.person_remove, name="person_remove"),
    path("contacts/<int:pk>/person/", views.contact_person, name="contact_person"),
    path("holds/", views.holds, name="holds"),
    path("holds/<int:pk>/release/", views.hold_release, name="hold_release"),
    path("conversations/<int:pk>/hold/", views.conversation_hold, name="conversation_hold"),
    path("retention/", views.retention, name="retention"),
    path("retention/<int:pk>/", views.retention_set, name="retention_set"),
]

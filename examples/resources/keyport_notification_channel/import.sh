# A NotificationChannel is imported by namespace/name.
terraform import keyport_notification_channel.cpu_visits integrations/cpu-uat-visits

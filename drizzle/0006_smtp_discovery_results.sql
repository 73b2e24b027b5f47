CREATE TABLE "smtp_discovery_results" (
	"domain" text PRIMARY KEY NOT NULL,
	"host" text,
	"port" integer,
	"is_secure" boolean,
	"source" text,
	"checked_at" timestamp with time zone NOT NULL
);

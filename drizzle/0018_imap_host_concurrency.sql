CREATE TABLE "imap_host_concurrency" (
	"host_key" text PRIMARY KEY NOT NULL,
	"session_bound" integer NOT NULL,
	"refused_at_sessions" integer,
	"refused_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL
);

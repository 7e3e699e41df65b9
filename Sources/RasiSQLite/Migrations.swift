import GRDB

extension SQLiteStore {
    /// Versioned schema. A migration, once released, is never edited: add the next one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: keys, interactions, feedback, lessons") { db in
            try db.execute(
                sql: """
                    CREATE TABLE api_keys (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL CHECK (role IN ('agent', 'reviewer', 'admin')),
                        prefix TEXT NOT NULL,
                        secret_hash TEXT NOT NULL UNIQUE,
                        created_at DATETIME NOT NULL,
                        revoked_at DATETIME
                    );

                    CREATE TABLE interactions (
                        id TEXT PRIMARY KEY,
                        agent TEXT NOT NULL,
                        conversation_id TEXT,
                        user_id TEXT,
                        turn_key TEXT,
                        request TEXT NOT NULL,
                        messages TEXT NOT NULL,
                        response TEXT,
                        model TEXT,
                        latency_ms INTEGER NOT NULL DEFAULT 0,
                        prompt_tokens INTEGER NOT NULL DEFAULT 0,
                        completion_tokens INTEGER NOT NULL DEFAULT 0,
                        lessons_injected TEXT NOT NULL DEFAULT '[]',
                        topic TEXT,
                        error TEXT,
                        created_at DATETIME NOT NULL,
                        updated_at DATETIME NOT NULL
                    );
                    CREATE INDEX interactions_by_agent ON interactions (agent, id);
                    CREATE INDEX interactions_by_turn ON interactions (turn_key);
                    CREATE INDEX interactions_by_conversation ON interactions (conversation_id);
                    CREATE INDEX interactions_by_user ON interactions (user_id);

                    CREATE TABLE steps (
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        kind TEXT NOT NULL CHECK (kind IN ('thinking', 'tool_call', 'tool_result', 'state_change', 'message')),
                        name TEXT,
                        arguments TEXT,
                        content TEXT,
                        call_id TEXT,
                        at DATETIME NOT NULL,
                        PRIMARY KEY (interaction_id, seq)
                    );

                    CREATE TABLE feedback (
                        id TEXT PRIMARY KEY,
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        rating TEXT CHECK (rating IN ('up', 'down')),
                        comment TEXT,
                        source TEXT NOT NULL CHECK (source IN ('user', 'reviewer', 'implicit')),
                        signal TEXT CHECK (signal IN ('rephrase', 'abandon', 'escalate')),
                        created_at DATETIME NOT NULL
                    );
                    CREATE INDEX feedback_by_interaction ON feedback (interaction_id, rating);

                    CREATE TABLE flags (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        reason TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        resolved_at DATETIME
                    );
                    CREATE INDEX flags_by_interaction ON flags (interaction_id);

                    CREATE TABLE lessons (
                        id TEXT PRIMARY KEY,
                        agent TEXT NOT NULL,
                        topic TEXT,
                        situation TEXT NOT NULL,
                        did TEXT NOT NULL,
                        should_have_done TEXT NOT NULL,
                        why TEXT NOT NULL,
                        correct_behavior TEXT NOT NULL,
                        polarity TEXT NOT NULL CHECK (polarity IN ('negative', 'positive')),
                        status TEXT NOT NULL CHECK (status IN ('proposed', 'active', 'retired')),
                        confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
                        source_interaction_id TEXT,
                        author TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        updated_at DATETIME NOT NULL,
                        version INTEGER NOT NULL,
                        helpful INTEGER NOT NULL DEFAULT 0,
                        harmful INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX lessons_by_agent ON lessons (agent, status);

                    -- Every version of every lesson, kept after the lesson is deleted so deletion can be undone.
                    CREATE TABLE lesson_versions (
                        lesson_id TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        snapshot TEXT NOT NULL,
                        changed_by TEXT NOT NULL,
                        changed_at DATETIME NOT NULL,
                        deleted_at DATETIME,
                        deleted_by TEXT,
                        PRIMARY KEY (lesson_id, version)
                    );

                    CREATE TABLE injections (
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        lesson_id TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        rank INTEGER NOT NULL,
                        score REAL NOT NULL,
                        at DATETIME NOT NULL
                    );
                    CREATE INDEX injections_by_lesson ON injections (lesson_id);
                    CREATE INDEX injections_by_interaction ON injections (interaction_id);
                    """)
            try db.create(virtualTable: "lessons_fts", using: FTS5()) { t in
                t.synchronize(withTable: "lessons")
                t.tokenizer = .porter(wrapping: .unicode61())
                t.column("topic")
                t.column("situation")
                t.column("did")
                t.column("should_have_done")
                t.column("why")
                t.column("correct_behavior")
            }
            try db.create(virtualTable: "interactions_fts", using: FTS5()) { t in
                t.synchronize(withTable: "interactions")
                t.tokenizer = .porter(wrapping: .unicode61())
                t.column("request")
                t.column("response")
            }
        }
        migrator.registerMigration("v2: lesson embeddings") { db in
            try db.execute(
                sql: """
                    -- One vector per lesson for the embedding model in use; float32, little-endian.
                    CREATE TABLE lesson_embeddings (
                        lesson_id TEXT PRIMARY KEY REFERENCES lessons (id) ON DELETE CASCADE,
                        model TEXT NOT NULL,
                        dimensions INTEGER NOT NULL,
                        vector BLOB NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v3: signals, flag rules, judge runs, jobs") { db in
            try db.execute(
                sql: """
                    -- An implicit signal counts once per interaction, however often it is detected.
                    CREATE UNIQUE INDEX feedback_one_implicit_signal ON feedback (interaction_id, signal)
                        WHERE source = 'implicit' AND signal IS NOT NULL;

                    -- A rule flags an interaction once; a dismissed flag stays (resolved) so it is not raised again.
                    ALTER TABLE flags ADD COLUMN rule TEXT;
                    ALTER TABLE flags ADD COLUMN resolved_by TEXT;
                    CREATE UNIQUE INDEX flags_one_per_rule ON flags (interaction_id, rule) WHERE rule IS NOT NULL;
                    CREATE INDEX flags_open ON flags (interaction_id) WHERE resolved_at IS NULL;

                    -- The abandonment sweeper looks at each interaction once.
                    ALTER TABLE interactions ADD COLUMN swept INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX interactions_unswept ON interactions (updated_at) WHERE swept = 0;

                    CREATE TABLE judge_runs (
                        id TEXT PRIMARY KEY,
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        job_id TEXT,
                        status TEXT NOT NULL CHECK (status IN ('ok', 'invalid', 'error')),
                        model TEXT NOT NULL,
                        prompt TEXT NOT NULL,
                        outputs TEXT NOT NULL,
                        verdict TEXT,
                        lesson_id TEXT,
                        error TEXT,
                        prompt_tokens INTEGER NOT NULL DEFAULT 0,
                        completion_tokens INTEGER NOT NULL DEFAULT 0,
                        latency_ms INTEGER NOT NULL DEFAULT 0,
                        created_at DATETIME NOT NULL
                    );
                    CREATE INDEX judge_runs_by_interaction ON judge_runs (interaction_id, created_at);

                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY,
                        kind TEXT NOT NULL CHECK (kind IN ('judge')),
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        run_after DATETIME NOT NULL,
                        owner TEXT,
                        last_error TEXT,
                        created_at DATETIME NOT NULL,
                        finished_at DATETIME,
                        UNIQUE (kind, interaction_id)
                    );
                    CREATE INDEX jobs_due ON jobs (status, run_after);
                    """)
        }
        migrator.registerMigration("v4: admin panel sessions") { db in
            try db.execute(
                sql: """
                    -- A signed-in reviewer or admin: the cookie's secret is stored hashed, like a key.
                    CREATE TABLE sessions (
                        secret_hash TEXT PRIMARY KEY,
                        key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
                        csrf_token TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        expires_at DATETIME NOT NULL
                    );
                    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
                    CREATE INDEX steps_tool_calls ON steps (interaction_id) WHERE kind = 'tool_call';
                    -- The panel's topic filter pages by id within a topic, however rare the topic.
                    CREATE INDEX interactions_by_topic ON interactions (topic, id);
                    """)
        }
        migrator.registerMigration("v5: curation: conflicts, lesson outcomes, review reasons") { db in
            try db.execute(
                sql: """
                    ALTER TABLE lessons ADD COLUMN review_reason TEXT;

                    -- Two lessons of one agent with similar situations that say different things.
                    CREATE TABLE lesson_conflicts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        lesson_a TEXT NOT NULL,
                        lesson_b TEXT NOT NULL,
                        agent TEXT NOT NULL,
                        similarity REAL NOT NULL,
                        reason TEXT NOT NULL,
                        detected_at DATETIME NOT NULL,
                        resolved_at DATETIME,
                        resolved_by TEXT,
                        resolution TEXT,
                        CHECK (lesson_a < lesson_b),
                        UNIQUE (lesson_a, lesson_b)
                    );
                    CREATE INDEX lesson_conflicts_open ON lesson_conflicts (agent, id) WHERE resolved_at IS NULL;

                    -- What the feedback on one interaction says about one lesson injected into it (latest wins).
                    CREATE TABLE lesson_outcomes (
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        lesson_id TEXT NOT NULL,
                        helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
                        at DATETIME NOT NULL,
                        PRIMARY KEY (interaction_id, lesson_id)
                    );

                    -- Guidance merged from conflicting lessons, by the exact versions merged; also the merge's log.
                    CREATE TABLE syntheses (
                        key TEXT PRIMARY KEY,
                        agent TEXT NOT NULL,
                        prompt TEXT NOT NULL,
                        output TEXT NOT NULL,
                        model TEXT NOT NULL,
                        prompt_tokens INTEGER NOT NULL,
                        completion_tokens INTEGER NOT NULL,
                        created_at DATETIME NOT NULL
                    );

                    CREATE TABLE topics (
                        name TEXT PRIMARY KEY,
                        description TEXT NOT NULL,
                        examples TEXT NOT NULL,
                        updated_at DATETIME NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v6: audit log, retention") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at DATETIME NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT NOT NULL,
                        detail TEXT
                    );
                    CREATE INDEX interactions_by_created ON interactions (created_at);
                    """)
        }
        migrator.registerMigration("v7: leases") { db in
            try db.execute(
                sql: """
                    -- Background work one replica at a time; one process here, but the same contract as PostgreSQL's.
                    CREATE TABLE leases (
                        name TEXT PRIMARY KEY,
                        holder TEXT NOT NULL,
                        until DATETIME NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v8: evaluations") { db in
            try db.execute(
                sql: """
                    -- rasi eval's reports: the summary columns for listing, the whole report as JSON.
                    CREATE TABLE evaluations (
                        id TEXT PRIMARY KEY,
                        suite TEXT NOT NULL,
                        model TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        report TEXT NOT NULL
                    );
                    CREATE INDEX evaluations_by_created ON evaluations (created_at);
                    """)
        }
        migrator.registerMigration("v9: agent APIs, response ids") { db in
            try db.execute(
                sql: """
                    -- The API a gateway call came through: chat, responses or messages; NULL when the REST
                    -- ingest did not say. No CHECK: another API would need the table rebuilt to widen it.
                    ALTER TABLE interactions ADD COLUMN api TEXT;
                    -- The panel's API filter pages by id within an API, however rare the API.
                    CREATE INDEX interactions_by_api ON interactions (api, id);

                    -- The ids the upstream gave a Responses API call's answers, so a later call's
                    -- previous_response_id finds the interaction it continues.
                    CREATE TABLE response_ids (
                        response_id TEXT PRIMARY KEY,
                        interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
                        created_at DATETIME NOT NULL
                    );
                    -- Without it, every interaction deleted would scan this table for its ids.
                    CREATE INDEX response_ids_by_interaction ON response_ids (interaction_id);
                    """)
        }
        migrator.registerMigration("v10: open calls") { db in
            try db.execute(
                sql: """
                    -- The process with a gateway call open on the interaction, until the call ends: one a
                    -- stopped process left open is marked interrupted.
                    ALTER TABLE interactions ADD COLUMN call_open_by TEXT;
                    -- Few calls are open at a time: the periodic check reads only those.
                    CREATE INDEX interactions_with_call_open ON interactions (call_open_by) WHERE call_open_by IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v11: lesson examples") { db in
            try db.execute(
                sql: """
                    -- Requests a lesson applies to, and must not apply to: JSON arrays of {text, source}.
                    ALTER TABLE lessons ADD COLUMN examples TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE lessons ADD COLUMN counter_examples TEXT NOT NULL DEFAULT '[]';
                    -- Their vectors, for the model in `lesson_embeddings`: kind 'example' or 'counter',
                    -- position in the lesson's list.
                    CREATE TABLE lesson_example_embeddings (
                        lesson_id TEXT NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
                        kind TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        model TEXT NOT NULL,
                        vector BLOB NOT NULL,
                        PRIMARY KEY (lesson_id, kind, position)
                    );
                    """)
        }
        migrator.registerMigration("v12: holdout arms") { db in
            try db.execute(
                sql: """
                    -- An exposure's arm: 'treatment' (injected) or 'control' (withheld by the holdout).
                    ALTER TABLE injections ADD COLUMN arm TEXT NOT NULL DEFAULT 'treatment';
                    ALTER TABLE interactions ADD COLUMN lessons_withheld TEXT NOT NULL DEFAULT '[]';
                    """)
        }
        migrator.registerMigration("v13: conversations in turn order") { db in
            try db.execute(
                sql: """
                    -- A conversation's previous turn, and whether anything followed a turn, are read by id
                    -- within the conversation: one derived from common opening words holds many turns.
                    DROP INDEX interactions_by_conversation;
                    CREATE INDEX interactions_by_conversation ON interactions (conversation_id, id);
                    """)
        }
        migrator.registerMigration("v14: lift counts") { db in
            try db.execute(
                sql: """
                    -- Each lesson's exposures per arm and their outcomes, kept up to date by the writes that
                    -- change them, under the rules in `lift_rules` (rebuilt when those change).
                    CREATE TABLE lift_counts (
                        lesson_id TEXT NOT NULL,
                        agent TEXT NOT NULL,
                        arm TEXT NOT NULL,
                        exposures INTEGER NOT NULL DEFAULT 0,
                        negative INTEGER NOT NULL DEFAULT 0,
                        positive INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (lesson_id, arm)
                    );
                    CREATE INDEX lift_counts_by_agent ON lift_counts (agent);
                    -- One row: the negative outcomes the counts are kept under; none until they are built.
                    CREATE TABLE lift_rules (id INTEGER PRIMARY KEY CHECK (id = 1), negative TEXT NOT NULL);
                    """)
        }
        return migrator
    }
}

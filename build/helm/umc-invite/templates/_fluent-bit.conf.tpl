{{/*
The one Fluent Bit config of both shapes: the shipped fluent-bit.conf's
[SERVICE], then per pipeline one tail [INPUT] and one umc_invite [OUTPUT].
Call with dict "root" $ "comment" <header> "storage" <dir> "pipelines" <list>;
a pipeline has tag, path, db, url, user, passwordFile, language, queueDir,
intakeDir, window, concurrency, rateLimit, workers (strings: a value or a
${VARIABLE} Fluent Bit expands).
*/}}
{{- define "umc-invite.fluentBitConf" -}}
{{- $v := .root.Values -}}
{{- range splitList "\n" .comment -}}
# {{ . }}
{{ end }}
[SERVICE]
    # Flush buffered records five times a second (with tail's 0.25 s rescan:
    # a call 0.27 s after the file appears, median).
    Flush                     0.2
    Grace                     10
    # Backoff between a chunk's retries: uniform in [base, min(cap,
    # base*2^n)] seconds, plus 1: 5 retries span about 15-60 s.
    scheduler.base            2
    scheduler.cap             30
    Log_Level                 {{ $v.fluentBit.logLevel }}
    # Chunks live on disk until the plugin says OK or ERROR.
    storage.path              {{ .storage }}/storage
    storage.sync              full
    storage.backlog.mem_limit 16M
    {{- if gt (len .pipelines) 1 }}
    {{- $chunks := 128 }}
    {{- range .pipelines }}{{ $chunks = add $chunks (mul 2 (int .window)) }}{{ end }}
    # Chunks in memory, counted for every tenant together: room for each
    # tenant's whole backlog (its window's files and their carried-over
    # lines, one record each), so that one tenant's slow UMC never leaves
    # another's new chunk without a place (128 + 2 x each window).
    storage.max_chunks_up     {{ $chunks }}
    {{- end }}
    # /api/v1/health turns 500 after more than 5 dead-lettering flushes, or
    # one chunk given up, within 60 s.
    HTTP_Server               On
    HTTP_Listen               0.0.0.0
    HTTP_Port                 ${HTTP_PORT:-{{ $v.fluentBit.httpPort }}}
    Health_Check              On
    HC_Errors_Count           5
    HC_Retry_Failure_Count    0
    HC_Period                 60
{{- range .pipelines }}

{{- if .title }}

# --- {{ .title }} ---
{{- end }}

[INPUT]
    Name              tail
    Tag               {{ .tag }}
    # Only *.send: dead letters in failed/, the intake in incoming/ and
    # files being written under another name are not read.
    Path              {{ .path }}
    # tail logs each name it watches as it is: a name with a newline (or
    # another control character) is never watched, so it cannot forge a
    # line of this log. It is never read nor sent; the intake refuses it.
    Exclude_Path      *[[:cntrl:]]*
    Read_from_Head    On
    # Nine decimals: Fluent Bit reads the digits after the dot as
    # nanoseconds ("0.25" would mean 25 ns and spin a core).
    Refresh_Interval  0.250000000
    Path_Key          path
    Offset_Key        offset
    DB                {{ .db }}
    Skip_Long_Lines   On
    # One short line a file: small buffers keep tail's memory per file low.
    Buffer_Chunk_Size 1k
    Buffer_Max_Size   4k
    storage.type      filesystem
    # One input's memory bounded: past 8 MB of records, or
    # storage.max_chunks_up chunks in memory (counted for every input
    # together; the DaemonSet's room is every tenant's whole backlog, see
    # [SERVICE]), the input pauses until its output has taken chunks: a
    # backlog read into few chunks, so that a stop (SIGTERM) has few
    # flushes to finish within the pod's grace.
    Mem_Buf_Limit     8M
    storage.pause_on_chunks_overlimit On
    {{- if .title }}
    # Each tenant's tail in a thread of its own: a flood of files in one
    # queue keeps that thread busy, not the one that reads the others'.
    Threaded          On
    {{- end }}

[OUTPUT]
    Name                umc_invite
    Match               {{ .tag }}
    {{- if .outputName }}
    # The output label of the plugin's metrics (stable across reloads).
    Output_Name         {{ .outputName }}
    {{- end }}
    UMC_URL             {{ .url }}
    {{- if .user }}
    Auth_User           {{ .user }}
    {{- end }}
    {{- if .passwordFile }}
    Auth_Password_File  {{ .passwordFile }}
    {{- end }}
    Language            {{ .language }}
    # Removes delivered files and moves dead letters to <Queue_Dir>/failed.
    Queue_Dir           {{ .queueDir }}
    # The listener writes into Intake_Dir; at most Queue_Window files are
    # admitted into Queue_Dir (and watched by tail) at a time.
    Intake_Dir          {{ .intakeDir }}
    Queue_Window        {{ .window }}
    # Chunk_Retry_Limit = Retry_Limit: the plugin carries waiting users
    # over on a chunk's last try.
    # One output's chunks on disk bounded (a window of 64 KiB files is
    # at most 64 MB, carry-overs included well under this).
    storage.total_limit_size 256M
    Retry_Limit         {{ $v.fluentBit.retryLimit }}
    Chunk_Retry_Limit   {{ $v.fluentBit.retryLimit }}
    Workers             {{ .workers }}
    Concurrency         {{ .concurrency }}
    Rate_Limit          {{ .rateLimit }}
    Metrics_Listen      ${METRICS_LISTEN:-:{{ $v.metrics.port }}}
{{- end }}
{{ end -}}

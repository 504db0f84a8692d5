/*
 * A stand-in for Fluent Bit's Go proxy (src/proxy/go/go.c): it dlopens the
 * plugin and calls its exported functions with the same structures, so the
 * real .so is tested through its C ABI without a Fluent Bit binary.
 *
 * Commands, one per line on stdin; each prints one result line:
 *   register                      -> "register <ret> <name>"
 *   init <id> <key>=<value> ...   -> "init <id> <ret>"
 *   flush <id> <chunk-file> <tag> -> "flush <id> <ret>"
 *   par <n>                       the next n flush lines run at once, in threads
 *   exit <id>                     -> "exit <id> <ret>"
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Layouts as in fluent-bit's include/fluent-bit/flb_plugin_proxy.h and go.h. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
};

struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
};

struct flb_plugin_proxy_context {
    void *remote_context;
    void *proxy;
};

struct flbgo_output_plugin {
    char *name;
    void *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
};

#define MAX_PROPS 64
#define MAX_INSTANCES 16

struct instance {
    int nprops;
    char *keys[MAX_PROPS];
    char *values[MAX_PROPS];
    struct flb_plugin_proxy_context context;
    struct flbgo_output_plugin plugin;
};

static struct instance instances[MAX_INSTANCES];
static struct flb_api api;

static int (*plugin_register)(struct flb_plugin_proxy_def *);
static int (*plugin_init)(struct flbgo_output_plugin *);
static int (*plugin_flush_ctx)(void *, const void *, int, char *);
static int (*plugin_exit_ctx)(void *);

/* Case-insensitive, as flb_output_get_property. */
static const char *get_property(const char *key, void *o_ins)
{
    struct instance *ins = o_ins;
    for (int i = 0; i < ins->nprops; i++) {
        if (strcasecmp(ins->keys[i], key) == 0) {
            return ins->values[i];
        }
    }
    return NULL;
}

static void *must_sym(void *so, const char *name)
{
    void *sym = dlsym(so, name);
    if (!sym) {
        fprintf(stderr, "host: no symbol %s\n", name);
        exit(2);
    }
    return sym;
}

struct flush_job {
    int id;
    char file[4096];
    char tag[256];
    int ret;
};

static void *run_flush(void *arg)
{
    struct flush_job *job = arg;
    FILE *f = fopen(job->file, "rb");
    if (!f) {
        perror(job->file);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(size > 0 ? size : 1);
    if (size > 0 && fread(data, 1, size, f) != (size_t) size) {
        fprintf(stderr, "host: short read of %s\n", job->file);
        exit(2);
    }
    fclose(f);
    job->ret = plugin_flush_ctx(instances[job->id].context.remote_context, data, (int) size, job->tag);
    free(data);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s plugin.so < commands\n", argv[0]);
        return 2;
    }
    void *so = dlopen(argv[1], RTLD_LAZY);
    if (!so) {
        fprintf(stderr, "host: %s\n", dlerror());
        return 2;
    }
    plugin_register = must_sym(so, "FLBPluginRegister");
    plugin_init = must_sym(so, "FLBPluginInit");
    plugin_flush_ctx = must_sym(so, "FLBPluginFlushCtx");
    plugin_exit_ctx = must_sym(so, "FLBPluginExitCtx");
    api.output_get_property = get_property;

    char line[16384];
    int parallel = 0;
    struct flush_job jobs[MAX_INSTANCES];
    int njobs = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *cmd = strtok(line, " ");
        if (!cmd) {
            continue;
        }
        if (strcmp(cmd, "register") == 0) {
            struct flb_plugin_proxy_def def = {0};
            int ret = plugin_register(&def);
            printf("register %d %s type=%d proxy=%d\n", ret, def.name ? def.name : "(null)", def.type, def.proxy);
        }
        else if (strcmp(cmd, "init") == 0) {
            int id = atoi(strtok(NULL, " "));
            struct instance *ins = &instances[id];
            char *kv;
            while ((kv = strtok(NULL, " ")) && ins->nprops < MAX_PROPS) {
                char *eq = strchr(kv, '=');
                if (!eq) {
                    continue;
                }
                *eq = '\0';
                ins->keys[ins->nprops] = strdup(kv);
                ins->values[ins->nprops] = strdup(eq + 1);
                ins->nprops++;
            }
            ins->plugin.name = "umc_invite";
            ins->plugin.api = &api;
            ins->plugin.o_ins = ins;
            ins->plugin.context = &ins->context;
            printf("init %d %d\n", id, plugin_init(&ins->plugin));
        }
        else if (strcmp(cmd, "par") == 0) {
            parallel = atoi(strtok(NULL, " "));
            njobs = 0;
        }
        else if (strcmp(cmd, "flush") == 0) {
            struct flush_job *job = &jobs[njobs];
            job->id = atoi(strtok(NULL, " "));
            snprintf(job->file, sizeof(job->file), "%s", strtok(NULL, " "));
            snprintf(job->tag, sizeof(job->tag), "%s", strtok(NULL, " "));
            if (parallel == 0) {
                run_flush(job);
                printf("flush %d %d\n", job->id, job->ret);
                continue;
            }
            if (++njobs < parallel) {
                continue;
            }
            pthread_t threads[MAX_INSTANCES];
            for (int i = 0; i < njobs; i++) {
                pthread_create(&threads[i], NULL, run_flush, &jobs[i]);
            }
            for (int i = 0; i < njobs; i++) {
                pthread_join(threads[i], NULL);
                printf("flush %d %d\n", jobs[i].id, jobs[i].ret);
            }
            parallel = 0;
        }
        else if (strcmp(cmd, "exit") == 0) {
            int id = atoi(strtok(NULL, " "));
            printf("exit %d %d\n", id, plugin_exit_ctx(instances[id].context.remote_context));
        }
    }
    return 0;
}

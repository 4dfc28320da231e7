package dev.edgeplane.controlplane.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.controlplane.auth.MethodRules;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every public method is either a read or audited: a new mutating verb that AuditInterceptor does not
 * know fails here. (MethodRules has every method the server serves: AccessApiTest checks that.)
 */
class AuditCoverageTest {
    /** Verbs that change nothing. */
    private static final Pattern READ = Pattern.compile("(Get|List|Watch|Query).*");
    /** Ops sessions: audited by the tunnel, at start and end, on both ends (tunnel/audit). */
    private static final String OPS = "edgeplane.v1.OpsService/";

    @Test
    void everyPublicMethodIsAReadAnOpsSessionOrAudited() {
        List<String> unaccounted = MethodRules.all().keySet().stream().sorted()
                .filter(full -> !full.startsWith(OPS))
                .filter(full -> {
                    String method = full.substring(full.indexOf('/') + 1);
                    return !READ.matcher(method).matches() && !AuditInterceptor.MUTATING.matcher(method).matches();
                })
                .toList();
        assertEquals(List.of(), unaccounted, "methods neither read-only nor audited");
        assertTrue(AuditInterceptor.MUTATING.matcher("StartCaRollover").matches());
        assertTrue(AuditInterceptor.MUTATING.matcher("RevokeApiToken").matches());
        assertTrue(MethodRules.all().keySet().stream().anyMatch(m -> m.endsWith("/CreateApp")), "the table is the real one");
    }
}

package dev.edgeplane.agent.sync;

/**
 * A Snapshot or Changes the agent must not apply: a template whose hash is wrong, or an assignment
 * whose template or ConfigMap/Secret it does not have and the message did not carry. Not applied, not
 * acked; a new stream resumes from the last ack, and its Hello says what the agent really has.
 */
final class RefusedMessage extends Exception {
    RefusedMessage(String message) {
        super(message);
    }
}

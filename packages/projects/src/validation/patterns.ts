/**
 * The shapes of names this module stores. The migration's CHECK constraints use
 * the same expressions (PostgreSQL's regular expressions read them alike), so the
 * service and the database refuse the same values.
 */

/** Lowercase letters, digits and inner dashes; 1 to 100 characters (as base's organization slugs). */
export const SLUG_PATTERN = /^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$/;

/**
 * `owner/name`, or deeper for nested groups (GitLab `group/sub/name`, Azure DevOps
 * `org/project/repo`). Segments are letters, digits, `_`, `-` and `.`; a segment may
 * start with a dot (`.github`) but is never `.` or `..`. No spaces, no empty segment,
 * no leading or trailing slash.
 */
export const FULL_NAME_SOURCE = '^\\.?[A-Za-z0-9_-][A-Za-z0-9_.-]*(/\\.?[A-Za-z0-9_-][A-Za-z0-9_.-]*)+$';
// From the string: a regex literal's `source` would read `\/`, which is not the text of the CHECK.
export const FULL_NAME_PATTERN = new RegExp(FULL_NAME_SOURCE);

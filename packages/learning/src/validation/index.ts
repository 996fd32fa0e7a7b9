/** Names, tags and aliases: lower-case, digits, dashes and underscores. */
export const TAG_PATTERN = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;

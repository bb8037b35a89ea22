// The bad-input campaigns as plain functions: `npm run chaos` (test/chaos/)
// imports them for the full-size figures, the vitest files in this directory
// run them at CI sizes, and `npx tsx test/badinput/run.ts` runs one by hand.
export type { CampaignFigures, Log } from "./figures.js";
export { type HeaderFuzzOptions, runHeaderFuzzCampaign } from "./headers/campaign.js";
export { type RegistrationOptions, runRegistrationCampaign } from "./registration/campaign.js";

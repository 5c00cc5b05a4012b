// French wording of the API's stable values (roles, attributes, error codes), and date
// formatting.

/** @typedef {import('./types.js').Role} Role */
/** @typedef {import('./types.js').Attributes} Attributes */

/**
 * What people read for each error code. The server's own French message is kept for
 * `bad_request` (it names the field) and for codes this client does not know yet.
 * @type {Readonly<Record<string, string>>}
 */
export const ERROR_MESSAGES = Object.freeze({
  bad_request: 'La demande contient une information invalide. Vérifiez le formulaire et réessayez.',
  unauthenticated: 'Votre session a expiré ou a été fermée. Reconnectez-vous pour continuer.',
  invalid_credentials: 'Identifiant ou mot de passe incorrect.',
  invalid_totp:
    'Code de vérification incorrect ou déjà utilisé. Attendez le code suivant de votre application, puis réessayez.',
  invalid_challenge:
    'La connexion a expiré. Saisissez à nouveau votre identifiant et votre mot de passe.',
  account_locked:
    'Ce compte est verrouillé après plusieurs échecs de connexion. Contactez l’administrateur de Passerelle pour le déverrouiller.',
  account_disabled: 'Votre compte a été désactivé. Contactez l’administrateur de Passerelle.',
  forbidden: 'Votre rôle ne vous permet pas d’effectuer cette action.',
  bad_origin:
    'Requête refusée : elle ne vient pas de l’adresse officielle de Passerelle. Ouvrez Passerelle depuis son adresse habituelle et réessayez.',
  not_found: 'Élément introuvable : il a peut-être été supprimé entre-temps. Rechargez la page.',
  institution_exists: 'Une institution porte déjà ce nom.',
  destroy_limit_required:
    'Un dossier du programme jeunesse doit indiquer le mois de naissance de la personne : il est détruit au plus tard à ses 25 ans.',
  social_action_not_allowed:
    'Le type de cette institution n’admet pas de professionnel de l’action sociale (CASF, art. L121-6-2) : retirez cet attribut, ou vérifiez l’institution de la personne.',
  secrecy_not_allowed:
    'Le type de cette institution n’admet pas de personne tenue au secret professionnel de la protection de l’enfance (CASF, art. L226-2-2) : retirez cet attribut, ou vérifiez l’institution de la personne.',
  kind_contradicts_members:
    'Des comptes de cette institution ont un attribut que ce type n’admet pas : retirez-le d’abord de leur compte (ils quitteront les canaux protégés).',
  login_exists: 'Cet identifiant est déjà utilisé par un autre compte.',
  payload_too_large: 'Le contenu envoyé est trop volumineux.',
  backup_too_large:
    'Votre sauvegarde de clés a atteint la taille maximale acceptée par le serveur : rien n’a été remplacé, les clés restent sur cet appareil. Prévenez l’administrateur.',
  backup_page_too_large:
    'Une page de votre sauvegarde de clés dépasse la taille acceptée par le serveur : rien n’a été remplacé, les clés restent sur cet appareil. Mettez l’application à jour ou prévenez l’administrateur.',
  backup_total_too_large:
    'Votre sauvegarde de clés a atteint la taille totale acceptée par le serveur : rien n’a été remplacé, les clés restent sur cet appareil. Prévenez l’administrateur.',
  backup_page_missing:
    'La sauvegarde de clés envoyée désigne une page que le serveur ne détient pas : rien n’a été remplacé. Réessayez.',
  backup_paged:
    'Votre sauvegarde de clés est au format par pages, que cette version de l’application ne sait pas écrire : rien n’a été remplacé. Mettez l’application à jour.',
  backup_page_hash: 'La page de sauvegarde envoyée ne correspond pas à son empreinte : rien n’a été enregistré.',
  headers_too_large: 'La requête envoyée est trop volumineuse (en-têtes). Rechargez la page.',
  method_not_allowed: 'Cette opération n’est pas possible à cette adresse. Rechargez la page.',
  weak_password: 'Le mot de passe doit comporter au moins 12 caractères.',
  invitation_invalid:
    'Ce lien d’invitation n’est plus valable : il a déjà servi, a expiré ou a été remplacé. Demandez-en un nouveau à l’administrateur de Passerelle.',
  already_active:
    'Ce compte est déjà activé : la personne se connecte avec son mot de passe. En cas d’oubli, réinitialisez son mot de passe.',
  invalid_email: 'Adresse e-mail invalide : indiquez une seule adresse, par exemple prenom.nom@ville.fr.',
  same_password: 'Le nouveau mot de passe doit être différent de l’actuel.',
  password_change_required: 'Votre mot de passe est provisoire : choisissez-en un nouveau avant de continuer.',
  unknown_institution: 'Institution inconnue : rechargez la page et choisissez-en une dans la liste.',
  invalid_login:
    'L’identifiant doit comporter de 3 à 64 caractères : lettres, chiffres, « . », « - » ou « _ ».',
  invalid_name: 'Le nom doit comporter de 1 à 200 caractères.',
  last_admin:
    'Impossible : c’est le dernier compte administrateur actif. Créez d’abord un autre administrateur.',
  too_many_attempts: 'Trop de tentatives. Patientez quelques minutes avant de réessayer.',
  internal_error:
    'Une erreur interne est survenue. Réessayez ; si le problème persiste, prévenez l’administrateur.',
  // Passkeys and security keys (CHARTER.md C15).
  webauthn_expired: 'La demande de la clé de sécurité a expiré ou a déjà servi. Recommencez.',
  webauthn_unknown_credential:
    'Cette clé de sécurité n’est pas enregistrée pour ce compte. Utilisez une clé enregistrée, ou le code à 6 chiffres si votre rôle le permet.',
  webauthn_failed:
    'La clé de sécurité n’a pas pu être vérifiée. Recommencez ; si cela se reproduit, prévenez l’administrateur.',
  webauthn_wrong_origin:
    'Cette réponse de clé de sécurité a été faite pour un autre site : connexion refusée. Vérifiez l’adresse de la page dans la barre du navigateur.',
  webauthn_required:
    'Votre rôle exige une clé de sécurité ou une clé d’accès : le code à 6 chiffres seul ne suffit plus. Utilisez votre clé, ou demandez à l’administrateur de réinitialiser votre double authentification si vous l’avez perdue.',
  webauthn_registration_required: 'Votre rôle exige une clé de sécurité : enregistrez-en une dans « Mes clés de sécurité » pour continuer.',
  webauthn_model_not_allowed: 'Ce modèle de clé de sécurité n’est pas autorisé pour les administrateurs. Utilisez une clé fournie par votre collectivité.',
  webauthn_last_required:
    'Impossible de retirer votre dernière clé : votre rôle en exige une. Enregistrez-en une autre d’abord.',
  webauthn_already_registered: 'Cette clé de sécurité est déjà enregistrée.',
  webauthn_unavailable: 'Les clés de sécurité ne sont pas disponibles sur ce serveur. Prévenez l’administrateur.',
  invalid_key_name: 'Le nom de la clé doit comporter de 1 à 100 caractères.',
  too_many_keys: 'Vous avez déjà 20 clés de sécurité : retirez-en une avant d’en ajouter une autre.',
  invalid_file: 'Le fichier contient des erreurs : aucun compte n’a été créé.',
  personal_data: 'Ce texte semble identifier une personne : il est lu par le serveur et doit rester anonyme. Retirez le nom, le téléphone, l’adresse e-mail ou la date de naissance.',
  // The charter gate (CHARTER.md C2, C9, C11).
  charter_not_published:
    'Aucune charte n’a encore été publiée : les canaux confidentiels restent fermés jusqu’à sa publication par l’administrateur.',
  charter_not_accepted: 'Acceptez la version en vigueur de la charte d’échange d’informations pour accéder aux canaux.',
  rules_not_published: 'Le règlement intérieur de ce groupe n’a pas encore été publié par sa coordination.',
  rules_not_accepted: 'Acceptez la version en vigueur du règlement intérieur de ce groupe pour y accéder.',
  archive_reason_required: 'Ce dossier est archivé : indiquez par écrit le motif de sa consultation.',
  channel_closed: 'Ce canal est en lecture seule.',
  session_ended: 'La séance d’analyse de pratiques est terminée : elle est désormais en lecture seule.',
  session_not_started: 'La séance d’analyse de pratiques n’a pas encore commencé.',
  regime_not_met: 'Cette personne ne remplit pas les conditions du régime juridique du canal.',
  institution_not_allowed: 'L’institution de cette personne n’est pas autorisée dans ce canal.',
  // Keys and channels.
  identity_in_use: 'Votre clé d’identité ne peut pas changer tant que des appareils l’utilisent.',
  identity_missing:
    'Votre compte n’a pas encore de clé d’identité : configurez d’abord un premier appareil (« Créer mes clés »).',
  identity_exists: 'Votre compte a déjà une clé d’identité, créée depuis un autre appareil : rechargez la page et ouvrez vos clés avec votre code de secours.',
  device_exists: 'Cet appareil est déjà enregistré. Recommencez la configuration de cet appareil.',
  invalid_destroyed_query: 'La liste de canaux demandée n’est pas valide : 1 000 identifiants au plus.',
  invalid_backup: 'La sauvegarde de clés envoyée n’est pas celle de votre compte : rien n’a été enregistré.',
  invalid_certificate:
    'Le certificat de l’appareil n’est pas valide : il ne correspond pas à la demande ou à votre clé d’identité.',
  // The key transparency log (PROTOCOL.md §25).
  invalid_log_range: 'Ces tailles ne désignent pas un état du journal des clés.',
  // Linking a new device from an existing one (PROTOCOL.md §5.5.1).
  invalid_link_request:
    'La demande d’ajout d’appareil n’est pas valide. Reconnectez-vous sur le nouvel appareil et recommencez.',
  link_closed:
    'Cette demande d’ajout d’appareil n’est plus en attente : elle a déjà été acceptée, refusée, ou elle a expiré.',
  epoch_conflict: 'Un autre membre vient de renouveler la clé du canal ; la sienne est utilisée.',
  prekey_outdated: 'Une clé d’échange plus récente de cet appareil est déjà publiée : rien n’a changé.',
  invalid_prekey: 'La clé d’échange envoyée n’est pas signée par cet appareil : rien n’a été enregistré.',
  invalid_epochs: 'La liste des clés reçues n’est pas valide (de 1 à 1000 numéros de clé attendus).',
  invalid_epoch_keys:
    'Les clés du canal n’ont pas été acceptées : la liste des appareils autorisés a changé entre-temps. Réessayez.',
  version_conflict: 'Un autre appareil a modifié cet élément entre-temps. Rechargez puis réessayez.',
  version_outdated: 'Une nouvelle version a été publiée entre-temps : lisez-la puis acceptez-la.',
  version_exists: 'Une autre version vient d’être publiée ; rechargez puis réessayez.',
  no_charter: 'Aucune charte n’a encore été publiée.',
  no_rules: 'Aucun règlement intérieur n’a encore été publié pour ce groupe.',
  rules_inherited: 'Ce canal suit le règlement intérieur de son groupe de travail : publiez-le dans le groupe.',
  invalid_text: 'Le texte doit être non vide et ne pas dépasser 100 Ko.',
  role_cannot_join: 'Ce compte ne peut pas être membre d’un canal.',
  already_member: 'Cette personne est déjà membre.',
  membership_log_conflict: 'La liste des membres vient de changer : rechargez la conversation et recommencez.',
  invalid_membership_record: 'La signature de ce changement de membres n’est pas valide.',
  membership_record_required: 'Ce changement de membres doit être signé par votre appareil : rechargez la page et recommencez.',
  identity_reader_not_logged:
    'Le serveur présente comme lecteur de l’identité une personne que le journal signé des membres ne désigne ni coordinatrice ni référente du dossier : rien n’a été chiffré. Si le référent vient d’être choisi, choisissez-le à nouveau dans « Modifier le suivi » pour le confirmer.',
  reason_required: 'Indiquez le motif du retrait.',
  invalid_channel: 'Ce canal ne peut pas être créé ainsi.',
  use_dedicated_endpoint: 'Les dossiers et les séances d’analyse de pratiques ont leur propre formulaire.',
  invalid_group: 'Le groupe indiqué n’est pas un groupe de travail dont vous êtes membre.',
  invalid_dates: 'Les dates indiquées ne sont pas cohérentes.',
  invalid_referent: 'Le référent doit être membre du dossier.',
  note_too_long: 'Texte trop long : 280 caractères au plus, sans nom ni donnée d’infraction ou de santé.',
  invalid_reason: 'Indiquez le motif de la consultation (10 à 500 caractères).',
  not_a_case: 'Cette action ne concerne que les dossiers.',
  already_archived: 'Ce dossier est déjà archivé.',
  field_report_replayed: 'Ce signalement a déjà été envoyé.',
  identity_restricted: 'L’identité de la personne n’est accessible qu’à la coordination et au référent du dossier.',
  identity_version_conflict: 'L’identité de la personne a été enregistrée entre-temps par un autre appareil : rechargez le dossier puis recommencez.',
  identity_key_pending: 'L’identité n’est pas encore chiffrée pour cet appareil : la coordination ou le référent doit l’afficher une fois pour la chiffrer à nouveau.',
  invalid_identity_envelope: 'L’identité chiffrée ne correspond pas à ce dossier ou à cet appareil : rechargez la page et recommencez.',
  invalid_identity_keys: 'Les personnes autorisées à lire l’identité ont changé entre-temps : rechargez le dossier et recommencez.',
  identity_not_recorded: 'Aucune identité n’est enregistrée pour ce dossier.',
  title_must_be_sealed: 'Le titre d’une séance est chiffré par votre navigateur : il ne doit pas être envoyé en clair au serveur.',
  title_not_sealable: 'Le nom d’un groupe de travail est un nom institutionnel : il n’est pas chiffré.',
  invalid_sealed_title: 'Le titre chiffré ne correspond pas à ce canal ou à cet appareil : rechargez la page et recommencez.',
  title_epoch_stale: 'Le canal a changé de clé entre-temps : rechargez la page, le titre sera chiffré à nouveau.',
  title_replayed: 'Ce titre chiffré est déjà enregistré.',
  note_epoch_stale: 'La note est déjà chiffrée sous la clé actuelle du dossier, ou le dossier a changé de clé entre-temps : rechargez la page.',
  note_not_sealed: 'Ce dossier n’a pas de note chiffrée à chiffrer à nouveau.',
  invalid_sealed_place: 'Le lieu chiffré ne correspond pas à ce signalement ou à cet appareil : rechargez la page et recommencez.',
  place_must_be_sealed: 'Le lieu est chiffré par votre navigateur : il ne doit pas être envoyé en clair au serveur.',
  note_must_be_sealed: 'La note est chiffrée par votre navigateur : elle ne doit pas être envoyée en clair au serveur.',
  invalid_sealed_note: 'La note chiffrée ne correspond pas à ce dossier ou à cet appareil : rechargez la page et recommencez.',
  not_coordinator: 'Seule la coordination de ce groupe (ou un coordinateur du CLSPD) peut faire cela.',
  invalid_coordinator: 'Chaque coordinateur du groupe doit en être membre, avec un compte actif de professionnel (pas de participant externe).',
  too_many_coordinators: 'Un groupe compte au plus 20 coordinateurs.',
  field_report_status_conflict: 'Ce signalement a changé entre-temps (un collègue l’a peut-être déjà pris en charge ou traité) : rechargez la liste.',
  invalid_place: 'Indiquez le lieu en 120 caractères au plus : une rue, un bâtiment, jamais le nom d’une personne.',
  invalid_observed_at: 'La date de l’observation ne peut être ni dans le futur, ni vieille de plus d’un an.',
  invalid_report_envelope: 'La description chiffrée ne correspond pas à ce groupe ou à cet appareil : rechargez la page et recommencez.',
  field_report_answer_required: 'Écrivez la réponse pour marquer le signalement comme traité.',
  field_report_answer_not_expected: 'La réponse s’écrit au moment de marquer le signalement comme traité.',
  referral_replayed: 'Cette orientation a déjà été envoyée.',
  referral_status_conflict: 'Cette orientation a changé entre-temps (un collègue l’a peut-être déjà acceptée, refusée ou fait avancer) : rechargez la liste.',
  invalid_client_id: 'L’identifiant de la demande n’est pas valide : rechargez la page et recommencez.',
  referral_to_own_institution: 'Orientez la personne vers une autre institution que la vôtre.',
  acte_host_is_target: 'Une orientation ACTE s’adresse à la structure d’accueil : choisissez-la comme institution destinataire.',
  acte_school_is_referrer: 'Un collège oriente ses propres élèves : indiquez votre établissement comme collège.',
  referral_invalid_referent: 'Le référent doit être un professionnel actif de l’institution destinataire.',
  referral_note_needs_referent: 'Pour joindre une note chiffrée, proposez un référent : la note est chiffrée pour votre conversation avec lui.',
  referral_note_too_long: 'Note trop longue : 280 caractères au plus, sans nom ni donnée d’infraction ou de santé.',
  invalid_referral_note: 'La note chiffrée ne correspond pas à une conversation que vous partagez avec son destinataire, ou à cet appareil : rechargez la page et recommencez.',
  referral_invalid_status: 'Une orientation acceptée passe à « Suivie », puis à « Close ».',
  meeting_exists: 'Ce groupe a déjà une réunion prévue à cette date et cette heure.',
  meeting_held: 'Cette réunion est close : ses décisions, sa présence et son compte rendu ne changent plus.',
  meeting_envelope_replayed: 'Cette note ou ce compte rendu a déjà été envoyé.',
  invalid_meeting_date: 'La date de la réunion doit se situer entre il y a 30 jours et dans un an.',
  invalid_agenda: 'L’ordre du jour doit compter de 1 à 30 situations, chacune une seule fois.',
  meeting_unknown_case:
    'Une situation de l’ordre du jour est inconnue, close, ou vous n’y avez pas accès : seules les situations rattachées au groupe (ou, pour un coordinateur, les siennes) peuvent y figurer.',
  meeting_invalid_attendee: 'Seuls les membres du groupe peuvent être notés présents, chacun une seule fois.',
  meeting_case_not_on_agenda: 'Cette situation n’est pas à l’ordre du jour de la réunion.',
  invalid_next_review: 'La prochaine revue doit être dans le futur, et pas au-delà de la durée maximale entre deux revues.',
  meeting_note_too_long: 'La note est trop longue (4 000 caractères environ au plus).',
  invalid_meeting_envelope: 'Le texte chiffré ne correspond pas à ce groupe ou à cet appareil : rechargez la page et recommencez.',
  meeting_undecided: 'Chaque situation de l’ordre du jour doit avoir sa décision avant de clore la réunion.',
  meeting_item_decided: 'Une situation déjà décidée reste à l’ordre du jour : sa décision est enregistrée.',
  meeting_has_decisions: 'Des décisions sont déjà enregistrées : tenez la réunion et closez-la plutôt que de l’annuler.',
  limit_can_only_move_earlier: 'La date limite de conservation ne peut être qu’avancée.',
  unknown_member: 'La personne indiquée n’est pas membre du dossier.',
  not_member: 'Vous n’êtes pas membre de ce canal.',
  device_revoked: 'Cet appareil a été révoqué. Reconnectez-vous pour le configurer à nouveau.',
  unavailable: 'Service momentanément indisponible ; réessayez dans un instant.',
  rate_limited: 'Trop de messages en peu de temps ; patientez un instant.',
  invalid_envelope: 'Le message n’a pas pu être envoyé : il ne correspond pas à ce canal ou à cet appareil.',
  bad_signature: 'Le message n’a pas pu être envoyé : sa signature n’est pas valide.',
  malformed_frame: 'Le serveur n’a pas compris une demande de ce navigateur. Rechargez la page.',
  binary_not_supported: 'Le serveur n’accepte pas ce type de données de ce navigateur. Rechargez la page.',
  // Client-side codes: the request never got an answer, or not a readable one.
  network_error:
    'Impossible de joindre le serveur Passerelle. Vérifiez votre connexion au réseau, puis réessayez.',
  unexpected_response: 'Le serveur a donné une réponse inattendue. Rechargez la page et réessayez.',
});

/**
 * What people read when the server ends their access while Passerelle is open: the close
 * reasons of the WebSocket (PROTOCOL.md §15), and the REST codes that mean the same. They
 * land on the login screen with this text, so it says what happened and what to do.
 * @type {Readonly<Record<string, string>>}
 */
export const EXCLUSION_MESSAGES = Object.freeze({
  account_disabled:
    'Votre compte a été désactivé. Si vous pensez qu’il s’agit d’une erreur, contactez l’administrateur de Passerelle.',
  session_revoked:
    'Cette session a été fermée depuis un autre appareil ou par l’administrateur. Reconnectez-vous pour continuer.',
  logged_out: 'Cette session a été fermée : vous vous êtes déconnecté(e) dans un autre onglet de ce navigateur.',
  password_changed:
    'Cette session a été fermée : le mot de passe du compte a été changé. Reconnectez-vous avec le nouveau mot de passe.',
  password_reset:
    'Cette session a été fermée : l’administrateur a réinitialisé votre mot de passe. Reconnectez-vous avec le mot de passe qu’il vous a remis.',
  mfa_reset:
    'Cette session a été fermée : l’administrateur a réinitialisé votre double authentification. Reconnectez-vous pour la configurer à nouveau.',
  session_expired: 'Votre session a expiré. Reconnectez-vous pour continuer.',
  device_revoked:
    'Cet appareil a été révoqué : les clés de chiffrement qu’il gardait ont été effacées de ce navigateur. Pour continuer ici, reconnectez-vous puis configurez à nouveau cet appareil.',
});

/**
 * The text for a close code whose reason this client does not know yet.
 * @type {Readonly<Record<number, string>>}
 */
const EXCLUSION_BY_CODE = Object.freeze({
  4003: EXCLUSION_MESSAGES.account_disabled,
  4004: 'Cette session a été fermée. Reconnectez-vous pour continuer.',
  4005: EXCLUSION_MESSAGES.device_revoked,
});

/**
 * The French text of a close that ends the access (4003, 4004, 4005).
 * @param {number} code
 * @param {string} reason
 * @returns {string}
 */
export function exclusionMessage(code, reason) {
  return EXCLUSION_MESSAGES[reason] ?? EXCLUSION_BY_CODE[code] ?? EXCLUSION_BY_CODE[4004];
}

/** @type {Readonly<Record<Role, string>>} */
export const ROLE_LABELS = Object.freeze({
  member: 'Membre (professionnel)',
  coordinator: 'Coordination',
  admin: 'Administration',
  auditor: 'Audit (DPO, référent)',
  external: 'Intervenant extérieur',
});

/** What each role may do, shown when an admin picks one (docs/ARCHITECTURE.md). */
/** @type {Readonly<Record<Role, string>>} */
export const ROLE_DESCRIPTIONS = Object.freeze({
  member: 'Lit et écrit dans les canaux dont il ou elle est membre.',
  coordinator: 'Comme un membre ; crée aussi les canaux et gère leurs membres.',
  admin: 'Gère les institutions et les comptes ; ne lit ni les messages ni le journal des accès.',
  auditor: 'Consulte, filtre, exporte et vérifie le journal des accès ; rien d’autre.',
  external: 'Association ou médiateur : seulement les canaux où il ou elle a été ajouté.',
});

/** @type {readonly Role[]} */
export const ROLES = Object.freeze(['member', 'coordinator', 'external', 'auditor', 'admin']);

/**
 * The closed list of institution types (CHARTER.md C5), in the order the admin picks
 * from: the type bounds the attributes its people may hold.
 * @type {Readonly<Record<string, string>>}
 */
export const INSTITUTION_KIND_LABELS = Object.freeze({
  police_nationale: 'Police nationale',
  police_municipale: 'Police municipale',
  education_nationale: 'Éducation nationale',
  action_sociale_departement: 'Action sociale du département',
  ccas: 'CCAS',
  pjj: 'Protection judiciaire de la jeunesse',
  justice: 'Justice',
  sante: 'Santé',
  mission_locale: 'Mission locale',
  mediation: 'Médiation',
  intervention_sociale_commissariat: 'Intervention sociale en commissariat',
  collectivite: 'Collectivité (mairie, intercommunalité)',
  association_habilitee: 'Association habilitée',
  autre: 'Autre (à préciser)',
});

/** @type {Readonly<Record<keyof Attributes, { label: string, hint: string }>>} */
export const ATTRIBUTE_LABELS = Object.freeze({
  bound_by_professional_secrecy: {
    label: 'Tenu au secret professionnel',
    hint: 'Nécessaire pour les canaux de protection de l’enfance (CASF, art. L226-2-2).',
  },
  social_action_professional: {
    label: 'Professionnel de l’action sociale',
    hint: 'Nécessaire pour les canaux de secret partagé social (CASF, art. L121-6-2).',
  },
});

/**
 * The attributes an account holds, in words.
 * @param {Attributes} attributes
 * @returns {string[]}
 */
export function attributeList(attributes) {
  return /** @type {(keyof Attributes)[]} */ (Object.keys(ATTRIBUTE_LABELS))
    .filter((key) => attributes[key])
    .map((key) => ATTRIBUTE_LABELS[key].label);
}

const dateTime = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium' });

/**
 * @param {number} ms Unix milliseconds.
 * @returns {string} « 12 mars 2026, 14:05 »
 */
export function formatDateTime(ms) {
  return dateTime.format(new Date(ms));
}

/**
 * @param {number} ms Unix milliseconds.
 * @returns {string} « 12 mars 2026 »
 */
export function formatDate(ms) {
  return dateOnly.format(new Date(ms));
}

/**
 * A short description of a browser from its user agent, for the sessions list.
 * @param {string | null} userAgent
 * @returns {string}
 */
export function describeUserAgent(userAgent) {
  if (!userAgent) return 'Appareil inconnu';
  const browser =
    /Edg\//.test(userAgent) ? 'Edge'
    : /Firefox\//.test(userAgent) ? 'Firefox'
    : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome'
    : /Safari\//.test(userAgent) ? 'Safari'
    : null;
  const system =
    /Android/.test(userAgent) ? 'Android'
    : /iPhone|iPad/.test(userAgent) ? 'iOS'
    : /Windows/.test(userAgent) ? 'Windows'
    : /Mac OS X/.test(userAgent) ? 'macOS'
    : /Linux/.test(userAgent) ? 'Linux'
    : null;
  if (browser && system) return `${browser} sous ${system}`;
  return browser ?? system ?? userAgent.slice(0, 60);
}

/**
 * The access log's actions in words, for the auditor (docs/AUDIT.md). A refusal of the
 * same action is shown with its outcome (« Refus »), so one label serves both; an action
 * unknown to this client is shown by its code.
 * @type {Readonly<Record<string, string>>}
 */
export const AUDIT_ACTIONS = Object.freeze({
  // Accounts and sessions.
  login: 'Connexion',
  login_password_ok: 'Mot de passe accepté (code de vérification attendu)',
  login_totp: 'Code de vérification à la connexion',
  totp_enrolled: 'Double authentification activée',
  logout: 'Déconnexion',
  account_locked: 'Compte verrouillé après des échecs de connexion',
  password_change: 'Changement de mot de passe',
  password_changed: 'Mot de passe changé',
  password_change_required: 'Requête refusée : mot de passe provisoire à changer',
  session_revoke: 'Fermeture d’une session',
  session_revoked: 'Session fermée',
  request_unauthenticated: 'Requête sans session valide',
  request_malformed: 'Requête mal formée',
  // Administration.
  admin_institution_create: 'Création d’une institution',
  admin_institution_created: 'Institution créée',
  admin_institution_update: 'Modification du type d’une institution',
  admin_institution_updated: 'Type d’une institution modifié',
  case_closing_proposed: 'Dossier non revu à temps, proposé à la clôture',
  login_passwordless: 'Connexion par clé d’accès',
  login_webauthn: 'Connexion par clé de sécurité',
  request_before_key_registration: 'Demande avant l’enregistrement d’une clé de sécurité obligatoire',
  webauthn_failed: 'Échec d’une clé de sécurité',
  webauthn_register: 'Enregistrement d’une clé de sécurité',
  webauthn_registered: 'Clé de sécurité enregistrée',
  webauthn_registration_failed: 'Échec de l’enregistrement d’une clé de sécurité',
  webauthn_remove: 'Retrait d’une clé de sécurité',
  webauthn_removed: 'Clé de sécurité retirée',
  webauthn_rename: 'Renommage d’une clé de sécurité',
  webauthn_renamed: 'Clé de sécurité renommée',
  webauthn_used: 'Connexion avec une clé de sécurité',
  admin_institutions_list: 'Consultation des institutions (administration)',
  admin_users_list: 'Consultation des comptes (administration)',
  admin_user_create: 'Création d’un compte',
  admin_users_import: 'Import d’une liste de comptes',
  admin_user_update: 'Modification d’un compte',
  admin_user_disable: 'Désactivation d’un compte',
  admin_user_enable: 'Réactivation d’un compte',
  admin_user_unlock: 'Déverrouillage d’un compte',
  admin_user_email_change: 'Modification de l’adresse e-mail d’un compte',
  admin_user_email_changed: 'Adresse e-mail d’un compte modifiée',
  invitation_create: 'Création d’un lien d’invitation',
  invitation_created: 'Lien d’invitation créé',
  invitation_accept: 'Utilisation d’un lien d’invitation',
  invitation_accepted: 'Mot de passe choisi par lien d’invitation',
  // Offline notices (an e-mail without any content).
  offline_notice_sent: 'Avis de nouveaux messages envoyé par e-mail',
  offline_notice_failed: 'Échec de l’envoi d’un avis de nouveaux messages par e-mail',
  offline_notices_changed: 'Avis par e-mail activés ou désactivés par la personne',
  admin_user_created: 'Compte créé',
  admin_user_updated: 'Compte modifié',
  admin_user_unlocked: 'Compte déverrouillé',
  admin_password_reset: 'Mot de passe réinitialisé par l’administration',
  admin_mfa_reset: 'Double authentification réinitialisée',
  charter_publish: 'Publication de la charte',
  charter_published: 'Charte publiée',
  // Charter and rules.
  charter_accept: 'Acceptation de la charte',
  charter_accepted: 'Charte acceptée',
  rules_read: 'Lecture d’un règlement intérieur',
  rules_publish: 'Publication d’un règlement intérieur',
  rules_published: 'Règlement intérieur publié',
  rules_accept: 'Acceptation d’un règlement intérieur',
  rules_accepted: 'Règlement intérieur accepté',
  // Devices and keys.
  device_register: 'Enregistrement d’un appareil',
  device_registered: 'Appareil enregistré',
  device_revoke: 'Révocation d’un appareil',
  device_revoked: 'Appareil révoqué',
  device_link_read: 'Consultation d’une demande d’ajout d’appareil',
  device_link_request: 'Demande d’ajout d’un appareil',
  device_link_requested: 'Ajout d’un appareil demandé',
  device_link_approve: 'Approbation d’un nouvel appareil',
  device_linked: 'Nouvel appareil approuvé',
  device_link_refuse: 'Refus d’un nouvel appareil',
  device_link_refused: 'Nouvel appareil refusé',
  identity_key_change: 'Changement de clé d’identité',
  identity_key_changed: 'Clé d’identité changée',
  identity_key_reset: 'Nouvelles clés créées (code de secours perdu)',
  keys_reset: 'Création de nouvelles clés',
  key_log_read: 'Consultation du journal des clés',
  destroyed_channels_read: 'Consultation des canaux détruits',
  identity_key_published: 'Clé d’identité publiée',
  keys_read: 'Lecture des clés publiques d’un collègue',
  key_backup_read: 'Lecture de la sauvegarde chiffrée des clés',
  key_backup_write: 'Écriture de la sauvegarde chiffrée des clés',
  key_backup_written: 'Sauvegarde chiffrée des clés enregistrée',
  key_backup_page_read: 'Lecture d’une page de la sauvegarde chiffrée des clés',
  key_backup_page_write: 'Écriture d’une page de la sauvegarde chiffrée des clés',
  key_backup_page_written: 'Page de la sauvegarde chiffrée des clés enregistrée',
  epoch_read: 'Lecture de l’état de la clé d’un canal',
  epoch_publish: 'Renouvellement de la clé d’un canal',
  prekey_publish: 'Publication de la clé d’échange d’un appareil',
  keys_delivered: 'Accusé de réception des clés d’un canal',
  epoch_keys_distributed: 'Clé de canal distribuée aux appareils',
  epoch_keys_delivered: 'Clés de canal reçues par un appareil : leur copie chiffrée effacée du serveur',
  prekey_published: 'Nouvelle clé d’échange d’un appareil publiée',
  epoch_keys_rewrap: 'Transmission des clés de canal à un nouvel appareil',
  epoch_keys_rewrapped: 'Clés de canal transmises à un nouvel appareil',
  // Channels and messages.
  directory_read: 'Consultation de l’annuaire',
  channel_read: 'Ouverture d’un canal',
  channel_create: 'Création d’un canal',
  channel_created: 'Canal créé',
  channel_archived: 'Canal archivé',
  channel_destroyed: 'Canal détruit (fin de conservation)',
  member_add: 'Ajout d’un membre',
  member_added: 'Membre ajouté',
  member_remove: 'Retrait d’un membre',
  member_removed: 'Membre retiré',
  member_left: 'Membre parti de lui-même',
  history_read: 'Lecture de l’historique d’un canal',
  membership_read: 'Lecture de l’historique des membres d’un canal',
  membership_log_read: 'Lecture du journal signé des membres d’un canal',
  membership_log_start: 'Ouverture du journal signé des membres d’un canal',
  membership_log_started: 'Journal signé des membres ouvert',
  membership_log_ratify: 'Signature d’un retrait fait par le serveur dans le journal des membres',
  membership_log_ratified: 'Retrait fait par le serveur signé dans le journal des membres',
  history_purged: 'Historique purgé (fin de conservation)',
  referrals_purged: 'Orientations non acceptées effacées (fin de conservation)',
  message_send: 'Envoi d’un message',
  attachment_upload: 'Dépôt d’une pièce jointe',
  attachment_uploaded: 'Pièce jointe déposée',
  attachment_download: 'Téléchargement d’une pièce jointe',
  attachment_downloaded: 'Pièce jointe téléchargée',
  ws_connect: 'Connexion en temps réel',
  ws_connected: 'Connexion en temps réel ouverte',
  ws_frame: 'Message en temps réel refusé',
  // Cases.
  case_create: 'Ouverture d’un dossier',
  case_opened: 'Dossier ouvert',
  case_update: 'Modification d’un dossier',
  case_information_record: 'Inscription de l’information de la personne',
  case_archive: 'Archivage d’un dossier',
  practice_session_create: 'Création d’une séance d’analyse de pratiques',
  practice_session_read: 'Consultation d’une séance d’analyse de pratiques',
  case_read: 'Consultation d’un dossier',
  case_updated: 'Dossier modifié',
  case_information_recorded: 'Information inscrite au dossier',
  case_archived: 'Dossier archivé',
  archive_open: 'Consultation d’une archive',
  archive_opened: 'Archive consultée (motif écrit)',
  case_identity_seal: 'Enregistrement de l’identité de la personne',
  channel_title_seal: 'Chiffrement du titre d’un canal',
  case_note_reseal: 'Nouveau chiffrement de la note d’un dossier',
  case_note_resealed: 'Note d’un dossier chiffrée à nouveau pour les membres arrivés depuis',
  channel_title_sealed: 'Titre d’un canal chiffré (le serveur n’en garde que la référence)',
  case_identity_sealed: 'Identité de la personne enregistrée (chiffrée pour la coordination et le référent)',
  case_identity_open: 'Affichage de l’identité de la personne',
  case_identity_opened: 'Identité de la personne affichée',
  case_identity_readers: 'Liste des personnes autorisées à lire l’identité',
  // Coordinators of the working groups.
  group_coordinators_read: 'Consultation des coordinateurs d’un groupe',
  group_coordinators_set: 'Désignation des coordinateurs d’un groupe',
  group_coordinators_named: 'Coordinateurs du groupe désignés',
  // Field reports of the mediators.
  field_report_file: 'Envoi d’un signalement de terrain',
  field_report_filed: 'Signalement de terrain envoyé',
  field_report_list: 'Consultation des signalements de terrain',
  field_report_read: 'Consultation d’un signalement de terrain',
  field_report_update: 'Suivi d’un signalement de terrain',
  field_report_taken_in_charge: 'Signalement de terrain pris en charge',
  field_report_answered: 'Signalement de terrain traité (réponse envoyée)',
  referral_open: 'Envoi d’une orientation',
  referral_opened: 'Orientation envoyée',
  referral_list: 'Consultation des orientations',
  referral_read: 'Consultation d’une orientation',
  referral_accept: 'Acceptation d’une orientation',
  referral_accepted: 'Orientation acceptée (dossier ouvert)',
  referral_decline: 'Refus d’une orientation',
  referral_declined: 'Orientation refusée',
  referral_advance: 'Suivi d’une orientation',
  referral_followed: 'Orientation suivie',
  referral_closed: 'Orientation close',
  // Meetings of the working groups.
  meeting_schedule: 'Programmation d’une réunion',
  meeting_scheduled: 'Réunion programmée',
  meeting_list: 'Consultation des réunions',
  meeting_read: 'Consultation d’une réunion',
  meeting_attendance: 'Relevé des présences à une réunion',
  meeting_attendance_recorded: 'Présences à une réunion enregistrées',
  meeting_decide: 'Décision sur une situation en réunion',
  meeting_decision_recorded: 'Décision de réunion enregistrée (revue de la situation)',
  meeting_minutes: 'Rédaction d’un compte rendu de réunion',
  meeting_minutes_written: 'Compte rendu de réunion enregistré',
  meeting_close: 'Clôture d’une réunion',
  meeting_held: 'Réunion close (décisions figées)',
  meeting_agenda: 'Modification de l’ordre du jour d’une réunion',
  meeting_agenda_changed: 'Ordre du jour d’une réunion modifié',
  meeting_cancel: 'Annulation d’une réunion',
  meeting_cancelled: 'Réunion annulée',
  // Audit and reports.
  audit_query: 'Consultation du journal des accès',
  audit_export: 'Export du journal des accès',
  audit_verify: 'Vérification de l’intégrité du journal',
  audit_checkpoints_read: 'Lecture des points de contrôle du journal',
  audit_head_read: 'Lecture de la tête du journal',
  audit_public_key_read: 'Lecture de la clé publique du journal',
  audit_incident_acknowledged: 'Incident d’intégrité pris en compte',
  audit_purged: 'Journal purgé (fin de conservation)',
  annual_report_read: 'Consultation du rapport annuel',
});

/** The field reports' closed list (shared/src/protocol/v1/field_reports.rs). */
export const FIELD_REPORT_CATEGORY_LABELS = Object.freeze({
  incivility: 'Incivilité',
  conflict: 'Conflit',
  technical_fault: 'Panne technique ou dégradation',
  illegal_dumping: 'Dépôt sauvage',
  other: 'Autre',
});

/** Where a field report stands. */
export const FIELD_REPORT_STATUS_LABELS = Object.freeze({
  new: 'Nouveau',
  in_progress: 'Pris en charge',
  done: 'Traité',
});

/** The referrals' closed lists (shared/src/protocol/v1/referrals.rs). */
export const REFERRAL_REASON_LABELS = Object.freeze({
  social: 'Difficultés sociales',
  economic: 'Difficultés économiques',
  housing: 'Logement',
  family: 'Difficultés familiales',
  health: 'Santé (accès aux soins)',
  schooling: 'Scolarité (exclusion temporaire)',
  other: 'Autre',
});

/** Where a referral stands. */
export const REFERRAL_STATUS_LABELS = Object.freeze({
  proposed: 'Proposée',
  accepted: 'Acceptée',
  declined: 'Refusée',
  followed: 'Suivie',
  closed: 'Close',
});

/** Why a person informed is referred without their consent (C13). */
export const WITHOUT_CONSENT_LABELS = Object.freeze({
  child_interest: 'Intérêt de l’enfant',
  danger_to_person: 'Danger pour la personne ou pour autrui',
  unable_to_consent: 'Personne hors d’état d’exprimer son consentement',
});

/** Why the target institution declines a referral. */
export const DECLINE_REASON_LABELS = Object.freeze({
  outside_remit: 'Hors du champ de compétence du service',
  already_followed: 'Personne déjà suivie par ailleurs',
  no_capacity: 'Pas de capacité de prise en charge',
  person_refused: 'La personne a refusé l’accompagnement',
  other: 'Autre',
});

/** The decisions a meeting takes about a situation (shared/src/protocol/v1/meetings.rs). */
export const MEETING_DECISION_LABELS = Object.freeze({
  maintain_follow_up: 'Maintenir le suivi',
  refer_elsewhere: 'Orienter vers un autre dispositif',
  close_situation: 'Clore la situation',
  postpone: 'Reporter à la prochaine réunion',
  request_assessment: 'Demander une évaluation',
});

/**
 * An action of the access log in words.
 * @param {string} action
 */
export function auditActionLabel(action) {
  return AUDIT_ACTIONS[action] ?? `Action « ${action} »`;
}
